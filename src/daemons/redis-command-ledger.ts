import { AckStatus } from '@arbor/gateway-client/protocol';
import { createHash } from 'node:crypto';
import { unavailable } from '../errors/domain.error.js';
import type { RedisConnections } from '../redis/redis-connections.js';
import { CommandLedger } from './command-ledger.js';

/** The ledger shared by every instance: one key per command, SET NX with the dedupe TTL. */
export class RedisCommandLedger extends CommandLedger {
  constructor(
    private readonly redis: RedisConnections,
    private readonly ttlMs: number,
  ) {
    super();
  }

  async claim(key: string): Promise<AckStatus.Accepted | undefined> {
    try {
      const set = await this.redis.commands.set(this.key(key), AckStatus.Accepted, 'PX', this.ttlMs, 'NX');
      return set === 'OK' ? undefined : AckStatus.Accepted;
    } catch {
      throw unavailable();
    }
  }

  async release(key: string): Promise<void> {
    await this.redis.commands.del(this.key(key)).catch(() => undefined);
  }

  private key(key: string): string {
    return this.redis.key('command', createHash('sha256').update(key).digest('base64url'));
  }
}
