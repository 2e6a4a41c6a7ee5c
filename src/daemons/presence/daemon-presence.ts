import type { DaemonStatus } from '@arbor/gateway-client/protocol';
import type { RedisConnections } from '../../redis/redis-connections.js';

/** What the gateway knows about a connected daemon. */
export interface DaemonPresence {
  readonly daemonId: string;
  status: DaemonStatus.Online | DaemonStatus.Stale;
  /** Epoch ms of the last `heartbeat` frame; null until the first one. */
  lastHeartbeat: number | null;
  /** Epoch ms the current connection was admitted; staleness counts from here until a heartbeat. */
  readonly connectedAt: number;
  /** The instance holding its connection. */
  readonly instance?: string;
}

/**
 * The daemon's presence hash in Redis (`instance`, `connection`, `status`, `connectedAt`,
 * `lastHeartbeat`): written by the broker that holds the daemon, read by whatever must know who
 * holds it (the command inbox fences confirmations on `connection`).
 */
export function presenceKey(redis: Pick<RedisConnections, 'daemonKey'>, daemonId: string): string {
  return redis.daemonKey(daemonId, 'presence');
}
