import { unavailable } from '../errors/domain.error.js';
import type { RedisConnections } from '../redis/redis-connections.js';
import { WorkspaceStatusStore } from './workspace-status.store.js';

/** No status yet, stored as an empty string (a hash field needs a value). */
const NO_STATUS = '';
/** A daemon's cache outlives its connection this long after the last write. */
const CACHE_TTL_MS = 60 * 60 * 1000;

/** Keeps statuses of workspaces still listed; replaces the list. */
const REPLACE = `
local existing = {}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do existing[flat[i]] = flat[i + 1] end
redis.call('DEL', KEYS[1])
for i = 2, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], existing[ARGV[i]] or '') end
if #ARGV > 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return #ARGV - 1`;

/** One hash per daemon: workspace id → last status, shared by every instance. */
export class RedisWorkspaceStatusStore extends WorkspaceStatusStore {
  constructor(private readonly redis: RedisConnections) {
    super();
  }

  async setWorkspaces(daemonId: string, workspaceIds: readonly string[]): Promise<void> {
    await this.run(() => this.redis.commands.eval(REPLACE, 1, this.key(daemonId), String(CACHE_TTL_MS), ...workspaceIds));
  }

  async setStatus(daemonId: string, workspaceId: string, status: string): Promise<void> {
    const key = this.key(daemonId);
    await this.run(() => this.redis.commands.multi().hset(key, workspaceId, status).pexpire(key, CACHE_TTL_MS).exec());
  }

  async listWorkspaces(daemonId: string): Promise<string[]> {
    return this.run(() => this.redis.commands.hkeys(this.key(daemonId)));
  }

  async allStatuses(daemonId: string): Promise<Record<string, string | null>> {
    const stored = await this.run(() => this.redis.commands.hgetall(this.key(daemonId)));
    const statuses: Record<string, string | null> = {};
    for (const [workspaceId, status] of Object.entries(stored)) statuses[workspaceId] = status === NO_STATUS ? null : status;
    return statuses;
  }

  async getStatus(daemonId: string, workspaceId: string): Promise<string | null | undefined> {
    const status = await this.run(() => this.redis.commands.hget(this.key(daemonId), workspaceId));
    if (status === null) return undefined;
    return status === NO_STATUS ? null : status;
  }

  /** Other instances may still show this daemon: the cache expires by its TTL instead. */
  async forget(): Promise<void> {}

  private key(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'workspaces');
  }

  private async run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch {
      throw unavailable();
    }
  }
}
