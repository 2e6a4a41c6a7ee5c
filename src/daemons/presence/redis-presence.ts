import { DaemonStatus } from '@arbor/gateway-client/protocol';
import type { RedisConnections } from '../../redis/redis-connections.js';
import { presenceKey, type DaemonPresence } from './daemon-presence.js';
import { HeldDaemons } from './held-daemons.js';

/** Makes this instance the daemon's holder; returns the previous holder (instance, connection). */
const ATTACH = `
local previous = redis.call('HMGET', KEYS[1], 'instance', 'connection')
redis.call('HSET', KEYS[1], 'instance', ARGV[1], 'connection', ARGV[2], 'status', 'online', 'connectedAt', ARGV[3], 'lastHeartbeat', '')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return previous`;

/** Removes the presence only if this connection still holds it. */
const DETACH = `
if redis.call('HGET', KEYS[1], 'instance') == ARGV[1] and redis.call('HGET', KEYS[1], 'connection') == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** The previous holder an attach replaced, if any. */
export interface PreviousHolder {
  instance: string;
  connection: string;
}

/**
 * Daemon presence shared by every instance: one hash per daemon (`instance`, `connection`,
 * `status`, `connectedAt`, `lastHeartbeat`, with a TTL its holder keeps refreshing, so a crashed
 * instance's daemons expire by themselves) and each instance's list of the daemons it holds. The
 * broker writes it; the command inbox, webhooks, the server API and health read it (directly or
 * through the broker). Redis errors reach the caller as they are.
 */
export class RedisPresence extends HeldDaemons {
  constructor(
    private readonly redis: RedisConnections,
    private readonly ttlMs: number,
  ) {
    super();
  }

  /** This instance's connection holds the daemon now; returns the holder it replaced. */
  async attach(daemonId: string, connection: string, now: number): Promise<PreviousHolder | undefined> {
    // Two slots (the daemon's, the instance's): sent together, not one after the other.
    const [[instance, previous]] = await Promise.all([
      this.redis.commands.eval(ATTACH, 1, this.key(daemonId), this.redis.instanceId, connection, String(now), String(this.ttlMs)) as Promise<
        [string | null, string | null]
      >,
      this.redis.commands.sadd(this.heldKey(this.redis.instanceId), daemonId),
    ]);
    return instance && previous ? { instance, connection: previous } : undefined;
  }

  /** Removes the presence if `connection` still holds it; false when another took the daemon over. */
  async detach(daemonId: string, connection: string): Promise<boolean> {
    const removed = (await this.redis.commands.eval(DETACH, 1, this.key(daemonId), this.redis.instanceId, connection)) === 1;
    if (removed) await this.release(this.redis.instanceId, daemonId);
    return removed;
  }

  async read(daemonId: string): Promise<DaemonPresence | undefined> {
    const fields = await this.redis.commands.hgetall(this.key(daemonId));
    if (!fields.instance) return undefined;
    return {
      daemonId,
      status: fields.status === DaemonStatus.Stale ? DaemonStatus.Stale : DaemonStatus.Online,
      lastHeartbeat: fields.lastHeartbeat ? Number(fields.lastHeartbeat) : null,
      connectedAt: Number(fields.connectedAt),
      instance: fields.instance,
    };
  }

  /** The instance holding the daemon (one field: what routing a command needs). */
  async holderOf(daemonId: string): Promise<string | undefined> {
    return (await this.redis.commands.hget(this.key(daemonId), 'instance')) ?? undefined;
  }

  /** Status and last heartbeat of a daemon held elsewhere, undefined when nobody holds it. */
  async statusOf(daemonId: string): Promise<{ status: DaemonStatus; lastHeartbeat: number | null } | undefined> {
    const [status, lastHeartbeat] = await this.redis.commands.hmget(this.key(daemonId), 'status', 'lastHeartbeat');
    return status ? { status: status as DaemonStatus, lastHeartbeat: lastHeartbeat ? Number(lastHeartbeat) : null } : undefined;
  }

  /**
   * The whole hash of a daemon held here, as attaching wrote it, with its TTL: not the changed
   * fields alone, since a failover may have lost the key and a hash without `instance` would make
   * the daemon look held by nobody. (Every heartbeat writes it: the held list is left alone.)
   */
  async write(presence: DaemonPresence, connection: string): Promise<void> {
    const key = this.key(presence.daemonId);
    await this.redis.commands
      .multi()
      .hset(key, {
        instance: this.redis.instanceId,
        connection,
        status: presence.status,
        connectedAt: String(presence.connectedAt),
        lastHeartbeat: presence.lastHeartbeat === null ? '' : String(presence.lastHeartbeat),
      })
      .pexpire(key, this.ttlMs)
      .exec();
  }

  /** The hash and the held-list entry again, after Redis lost them (restarted empty, or a failover). */
  async restore(presence: DaemonPresence, connection: string): Promise<void> {
    await Promise.all([this.write(presence, connection), this.redis.commands.sadd(this.heldKey(this.redis.instanceId), presence.daemonId)]);
  }

  /** Extends a held daemon's presence; false when the key is gone (a failover lost it). */
  async keepAlive(daemonId: string): Promise<boolean> {
    return (await this.redis.commands.pexpire(this.key(daemonId), this.ttlMs)) === 1;
  }

  heldBy(instanceId: string): Promise<string[]> {
    return this.redis.commands.smembers(this.heldKey(instanceId));
  }

  async release(instanceId: string, daemonId: string): Promise<void> {
    await this.redis.commands.srem(this.heldKey(instanceId), daemonId);
  }

  async forgetInstance(instanceId: string): Promise<void> {
    await this.redis.commands.del(this.heldKey(instanceId));
  }

  private key(daemonId: string): string {
    return presenceKey(this.redis, daemonId);
  }

  private heldKey(instanceId: string): string {
    return this.redis.instanceKey(instanceId, 'held');
  }
}
