import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { RedisTopologyKind, type RedisTopology } from '../config/redis-address.js';

/** A client for one server, a Sentinel primary or a Cluster: the commands this gateway uses are the same on each. */
export type RedisClient = Redis | Cluster;

/** The ioredis classes, loaded only by instances configured with Redis. */
export interface RedisClasses {
  RedisServer: typeof Redis;
  RedisCluster: typeof Cluster;
}

/** What differs between the command and the subscriber client. */
export type ClientRole = Pick<RedisOptions, 'connectionName' | 'enableAutoPipelining'> & Pick<ClusterOptions, 'shardedSubscribers'>;

/** Reconnect quickly but without hammering a Redis that is down. */
export const RETRY_DELAY_MS = (attempt: number) => Math.min(100 * attempt, 2000);

/**
 * ioredis asks the sentinels for the primary of `name`, connects to it, and on a failover (a lost
 * connection, or the sentinels' +switch-master) asks again.
 */
function sentinelOptions(topology: Extract<RedisTopology, { kind: RedisTopologyKind.Sentinel }>): RedisOptions {
  return {
    sentinels: topology.sentinels,
    name: topology.name,
    db: topology.db,
    username: topology.username,
    password: topology.password,
    sentinelUsername: topology.sentinelUsername,
    sentinelPassword: topology.sentinelPassword,
    failoverDetector: true,
    ...(topology.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
  };
}

/**
 * Commands fail fast while Redis is unreachable (no offline queue), so callers answer
 * `unavailable` instead of hanging; subscriptions are re-established by the caller on every
 * reconnect (no auto-resubscribe), so it knows when they are back.
 */
const COMMON: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  retryStrategy: RETRY_DELAY_MS,
  autoResubscribe: false,
  lazyConnect: false,
  // A primary demoted by a failover answers writes with READONLY: reconnect, to the new primary.
  reconnectOnError: (error) => error.message.startsWith('READONLY'),
};

/** Opens one client for the topology REDIS_URL names. */
export function openRedisClient(topology: RedisTopology, { RedisServer, RedisCluster }: RedisClasses, role: ClientRole): RedisClient {
  switch (topology.kind) {
    case RedisTopologyKind.Standalone:
      return new RedisServer(topology.url, { ...COMMON, ...role });
    case RedisTopologyKind.Sentinel:
      return new RedisServer({ ...COMMON, ...role, ...sentinelOptions(topology) });
    case RedisTopologyKind.Cluster: {
      const { enableAutoPipelining, shardedSubscribers, ...perNode } = role;
      return new RedisCluster(topology.nodes, {
        enableOfflineQueue: false,
        // The ready check asks a node whose connection may still be opening; without an offline
        // queue it fails, and the reconnect it starts can strand ioredis's shard subscribers.
        enableReadyCheck: false,
        enableAutoPipelining,
        shardedSubscribers,
        clusterRetryStrategy: RETRY_DELAY_MS,
        // A command for a shard that is failing over is retried for about a second, then fails
        // (callers answer `unavailable`), rather than holding a connection's frames for longer.
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        retryDelayOnTryAgain: 100,
        maxRedirections: 10,
        // Writes and reads go to primaries: replicas lag, and the stream is read to fill gaps.
        scaleReads: 'master',
        redisOptions: {
          ...COMMON,
          ...perNode,
          username: topology.username,
          password: topology.password,
          ...(topology.tls ? { tls: {} } : {}),
        },
      });
    }
  }
}
