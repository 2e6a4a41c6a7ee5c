import { AckStatus } from '@arbor/gateway-client/protocol';

/**
 * Remembers, for COMMAND_DEDUPE_TTL_MS, which command ids were handed to a daemon, so a command
 * retried after a reconnect — through any instance — is not executed twice.
 */
export abstract class CommandLedger {
  /** Claims a command id; returns undefined if it is new, else the original outcome. */
  abstract claim(command: CommandRef): Promise<AckStatus.Accepted | undefined>;
  /** Lets a claimed id be tried again (the command never reached a daemon). */
  abstract release(command: CommandRef): Promise<void>;
}

/** Commands are scoped by daemon and user: ids are the client's, and one user's cannot shadow another's. */
export interface CommandRef {
  daemonId: string;
  userId: string;
  commandId: string;
}

function commandKey({ daemonId, userId, commandId }: CommandRef): string {
  return `${daemonId}\u0000${userId}\u0000${commandId}`;
}

export class InMemoryCommandLedger extends CommandLedger {
  private readonly claimed = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  async claim(command: CommandRef): Promise<AckStatus.Accepted | undefined> {
    const key = commandKey(command);
    const now = this.now();
    const expiresAt = this.claimed.get(key);
    if (expiresAt !== undefined && expiresAt > now) return AckStatus.Accepted;
    this.claimed.set(key, now + this.ttlMs);
    this.prune(now);
    return undefined;
  }

  async release(command: CommandRef): Promise<void> {
    this.claimed.delete(commandKey(command));
  }

  /** Map order is insertion order, which is expiry order: drop from the front. */
  private prune(now: number): void {
    for (const [key, expiresAt] of this.claimed) {
      if (expiresAt > now) return;
      this.claimed.delete(key);
    }
  }
}
