import { CommandStatus } from '@arbor/gateway-client/protocol';
import {
  ACCEPTED,
  CommandInbox,
  duplicateOf,
  firstSeq,
  type AcceptResult,
  type CommandOutcome,
  type NewCommand,
  type PendingCommand,
  type PendingCommands,
} from './command-inbox.js';

interface Inbox {
  lastSeq: number;
  /** By id; Map order is acceptance order. */
  commands: Map<string, PendingCommand>;
}

/** One instance's inbox: commands wait here for their daemon's next connection to this process. */
export class InMemoryCommandInbox extends CommandInbox {
  private readonly inboxes = new Map<string, Inbox>();
  /** (daemon, id) → whose it is, its state, and when it is forgotten; Map order is expiry order (one TTL for all). */
  private readonly outcomes = new Map<string, { userId: string; outcome: CommandOutcome; forgetAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly dedupeTtlMs: number,
    /** The daemon's current connection here, for fencing confirmations. */
    private readonly holderOf: (daemonId: string) => string | undefined,
  ) {
    super();
  }

  async accept(daemonId: string, command: NewCommand, now: number): Promise<AcceptResult> {
    this.forgetOutcomes(now);
    const key = outcomeKey(daemonId, command.id);
    const remembered = this.outcomes.get(key);
    if (remembered && remembered.userId !== command.userId) return { kind: 'conflict' };
    const duplicate = duplicateOf(remembered?.outcome);
    if (duplicate) return duplicate;
    const inbox = this.inboxOf(daemonId, now);
    const pending: PendingCommand = { ...command, seq: ++inbox.lastSeq, expiresAt: now + this.ttlMs };
    // An expired command of the same id and user may linger unexpired-out: the new one takes its place at the end.
    inbox.commands.delete(command.id);
    inbox.commands.set(command.id, pending);
    this.outcomes.set(key, { userId: command.userId, outcome: ACCEPTED, forgetAt: now + this.dedupeTtlMs });
    return { kind: 'accepted', command: pending };
  }

  async pending(daemonId: string, now: number): Promise<PendingCommands> {
    const inbox = this.inboxOf(daemonId, now);
    const commands: PendingCommand[] = [];
    for (const command of inbox.commands.values()) {
      if (command.expiresAt > now) commands.push(command);
      // Nobody waits for its status: it leaves here.
      else if (command.senderInstance === undefined) this.takeOut(daemonId, inbox, command, CommandStatus.Expired);
    }
    return { commands, lastSeq: inbox.lastSeq };
  }

  async confirm(daemonId: string, id: string, holder: string): Promise<PendingCommand | undefined> {
    if (this.holderOf(daemonId) !== holder) return undefined;
    const inbox = this.inboxes.get(daemonId);
    const command = inbox?.commands.get(id);
    return command && this.takeOut(daemonId, inbox!, command, CommandStatus.Delivered);
  }

  async expire(daemonId: string, id: string, now: number): Promise<PendingCommand | undefined> {
    const inbox = this.inboxes.get(daemonId);
    const command = inbox?.commands.get(id);
    if (!command || command.expiresAt > now) return undefined;
    return this.takeOut(daemonId, inbox!, command, CommandStatus.Expired);
  }

  async outcome(daemonId: string, id: string): Promise<CommandOutcome | undefined> {
    return this.outcomes.get(outcomeKey(daemonId, id))?.outcome;
  }

  async redirect(daemonId: string, userId: string, id: string, senderInstance: string): Promise<void> {
    const command = this.inboxes.get(daemonId)?.commands.get(id);
    if (command?.userId === userId) command.senderInstance = senderInstance;
  }

  /** The daemon's inbox, its numbering started if it had none (so the holder knows the next seq). */
  private inboxOf(daemonId: string, now: number): Inbox {
    let inbox = this.inboxes.get(daemonId);
    if (!inbox) this.inboxes.set(daemonId, (inbox = { lastSeq: firstSeq(now), commands: new Map() }));
    return inbox;
  }

  private takeOut(daemonId: string, inbox: Inbox, command: PendingCommand, outcome: CommandStatus): PendingCommand {
    inbox.commands.delete(command.id);
    const remembered = this.outcomes.get(outcomeKey(daemonId, command.id));
    if (remembered) remembered.outcome = outcome;
    return command;
  }

  private forgetOutcomes(now: number): void {
    for (const [key, { forgetAt }] of this.outcomes) {
      if (forgetAt > now) return;
      this.outcomes.delete(key);
    }
  }
}

function outcomeKey(daemonId: string, id: string): string {
  return `${daemonId}\u0000${id}`;
}
