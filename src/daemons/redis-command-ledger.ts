import { AckStatus } from '@arbor/gateway-client/protocol';
import { createHash } from 'node:crypto';
import { unavailable } from '../errors/domain.error.js';
import type { RedisConnections } from '../redis/redis-connections.js';
import { CommandLedger, type CommandRef } from './command-ledger.js';

/** The ledger shared by every instance: one key per command, under its daemon's hash tag, SET NX with the dedupe TTL. */
export class RedisCommandLedger extends CommandLedger {
  constructor(
    private readonly redis: RedisConnections,
    private readonly ttlMs: number,
  ) {
    super();
  }

  async claim(command: CommandRef): Promise<AckStatus.Accepted | undefined> {
    try {
      const set = await this.redis.commands.set(this.key(command), AckStatus.Accepted, 'PX', this.ttlMs, 'NX');
      return set === 'OK' ? undefined : AckStatus.Accepted;
    } catch {
      throw unavailable();
    }
  }

  async release(command: CommandRef): Promise<void> {
    await this.redis.commands.del(this.key(command)).catch(() => undefined);
  }

  /** The user and id hashed: they are the client's, of any length. */
  private key({ daemonId, userId, commandId }: CommandRef): string {
    return this.redis.daemonKey(daemonId, `command:${createHash('sha256').update(`${userId}\u0000${commandId}`).digest('base64url')}`);
  }
}
