import { Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Redis, RedisOptions } from 'ioredis';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { describeRedisTopology, parseRedisUrl, RedisTopologyKind, type RedisTopology } from '../config/redis-address.js';

export type MessageListener = (channel: string, message: string) => void;

const EVENTS_CHANNEL_SUFFIX = '}:events';

/** While Redis stays away, the log says so again this often. */
const OUTAGE_REMINDER_MS = 60_000;

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

/** Reconnect quickly but without hammering a Redis that is down. */
const RETRY_DELAY_MS = (attempt: number) => Math.min(100 * attempt, 2000);

/**
 * The two Redis connections an instance needs: one for commands (pipelined), one for
 * subscriptions. Commands fail fast while Redis is unreachable (no offline queue), so callers
 * answer `unavailable` instead of hanging; subscriptions are re-established on every reconnect.
 */
export class RedisConnections implements OnModuleDestroy {
  readonly commands: Redis;
  readonly subscriber: Redis;
  /** Unique per process: presence says which instance holds a daemon. */
  readonly instanceId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly logger = new Logger('Redis');
  /** Wanted channels, each with the promise of its current subscription. */
  private readonly channels = new Map<string, Promise<void>>();
  private readonly listeners = new Set<MessageListener>();
  private readonly readyListeners = new Set<() => void>();
  private lastProblem: string | undefined = 'connecting';
  /** While Redis is unreachable: since when, and when the log last said so (one line per minute at most). */
  private outage: { since: number; toldAt: number } | undefined;
  /** Where Redis is, for messages: host and port only (the URL may carry a password). */
  private readonly address: string;

  /** ioredis is loaded only by instances configured with Redis: a single instance never pays for it. */
  static async create(address: string | RedisTopology, prefix: string): Promise<RedisConnections> {
    const { Redis: RedisClient } = await import('ioredis');
    return new RedisConnections(typeof address === 'string' ? parseRedisUrl(address) : address, prefix, RedisClient);
  }

  private constructor(
    topology: RedisTopology,
    readonly prefix: string,
    RedisClient: typeof Redis,
  ) {
    this.address = describeRedisTopology(topology);
    const options: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: RETRY_DELAY_MS,
      autoResubscribe: false,
      lazyConnect: false,
      // A primary demoted by a failover answers writes with READONLY: reconnect, to the new primary.
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
    };
    const connect = (extra: RedisOptions) => {
      switch (topology.kind) {
        case RedisTopologyKind.Standalone:
          return new RedisClient(topology.url, { ...options, ...extra });
        case RedisTopologyKind.Sentinel:
          return new RedisClient({ ...options, ...extra, ...sentinelOptions(topology) });
        case RedisTopologyKind.Cluster:
          throw new Error('Redis Cluster is not supported yet');
      }
    };
    // Auto-pipelining batches the commands of one event-loop turn (appends, publishes) into one write.
    this.commands = connect({ enableAutoPipelining: true, connectionName: `arbor-${this.instanceId}` });
    this.subscriber = connect({ connectionName: `arbor-sub-${this.instanceId}` });
    for (const [name, client] of [
      ['commands', this.commands],
      ['subscriber', this.subscriber],
    ] as const) {
      client.on('error', (error: Error) => this.problem(`${name}: ${error.message}`));
      client.on('end', () => this.problem(`${name}: connection ended`));
      client.on('ready', () => this.ready(name));
    }
    this.subscriber.on('message', (channel: string, message: string) => {
      for (const listener of this.listeners) listener(channel, message);
    });
  }

  /** Both connections are usable. */
  get isReady(): boolean {
    return this.commands.status === 'ready' && this.subscriber.status === 'ready';
  }

  /** Why Redis is not usable, for the health indicator. */
  get problemDescription(): string {
    return this.lastProblem ?? `commands ${this.commands.status}, subscriber ${this.subscriber.status}`;
  }

  /**
   * A daemon's key or channel: everything about one daemon shares the hash tag `{d:<daemonId>}`, so
   * each script and transaction touches one Cluster slot and an operator finds a daemon's keys by
   * its id (`{prefix}{d:daemon-123}:stream`). An id holding `}` still maps every key of that
   * daemon to one slot: the tag ends at its first `}`.
   */
  daemonKey(daemonId: string, part: string): string {
    return `${this.prefix}{d:${daemonId}}:${part}`;
  }

  /** An instance's channel, under the instance's own tag. */
  instanceKey(instanceId: string, part: string): string {
    return `${this.prefix}{i:${instanceId}}:${part}`;
  }

  /** The revocation list and its channel, under one tag of their own. */
  revocationsKey(part: string): string {
    return `${this.prefix}{revocations}:${part}`;
  }

  /** The channel a daemon's recorded events are published on. */
  eventsChannel(daemonId: string): string {
    return this.daemonKey(daemonId, EVENTS_CHANNEL_SUFFIX.slice(2));
  }

  /** The daemon whose events channel this is, or undefined for any other channel. */
  daemonOfEventsChannel(channel: string): string | undefined {
    const start = `${this.prefix}{d:`;
    if (!channel.startsWith(start) || !channel.endsWith(EVENTS_CHANNEL_SUFFIX)) return undefined;
    return channel.slice(start.length, -EVENTS_CHANNEL_SUFFIX.length);
  }

  onMessage(listener: MessageListener): void {
    this.listeners.add(listener);
  }

  /** Resolves true once both connections are ready, or false after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.isReady) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const check = () => this.isReady && finish(true);
      const finish = (ready: boolean) => {
        clearTimeout(timer);
        this.commands.off('ready', check);
        this.subscriber.off('ready', check);
        resolve(ready);
      };
      this.commands.on('ready', check);
      this.subscriber.on('ready', check);
    });
  }

  /** Called after every (re)connection of the command connection, e.g. to re-publish presence. */
  onReady(listener: () => void): void {
    this.readyListeners.add(listener);
  }

  /**
   * Subscribes now if connected, and again after every reconnect. Resolves once Redis confirmed
   * the subscription (at once while Redis is away), so a caller knows publishes reach it from now on.
   */
  subscribe(channel: string): Promise<void> {
    let subscribed = this.channels.get(channel);
    if (!subscribed) {
      subscribed =
        this.subscriber.status === 'ready'
          ? this.subscriber.subscribe(channel).then(
              () => undefined,
              (error: Error) => this.problem(`subscribe: ${error.message}`),
            )
          : Promise.resolve();
      this.channels.set(channel, subscribed);
    }
    return subscribed;
  }

  unsubscribe(channel: string): void {
    this.channels.delete(channel);
    if (this.subscriber.status === 'ready') this.subscriber.unsubscribe(channel).catch((error: Error) => this.problem(`unsubscribe: ${error.message}`));
  }

  async onModuleDestroy(): Promise<void> {
    this.listeners.clear();
    this.readyListeners.clear();
    // QUIT lets replies owed arrive; disconnect() then also closes what QUIT leaves open (the
    // sentinel connections of the failover detector).
    await Promise.all(
      [this.commands, this.subscriber].map((client) =>
        client.quit().then(
          () => client.disconnect(),
          () => client.disconnect(),
        ),
      ),
    );
  }

  private ready(name: 'commands' | 'subscriber'): void {
    if (name === 'subscriber' && this.channels.size > 0) {
      const resubscribed = this.subscriber.subscribe(...this.channels.keys()).then(
        () => undefined,
        (error: Error) => this.problem(`resubscribe: ${error.message}`),
      );
      for (const channel of this.channels.keys()) this.channels.set(channel, resubscribed);
    }
    if (name === 'commands') for (const listener of this.readyListeners) listener();
    if (this.isReady) {
      if (this.lastProblem) this.logger.log({ msg: 'redis connected', instanceId: this.instanceId, address: this.address });
      this.lastProblem = undefined;
      this.outage = undefined;
    }
  }

  /**
   * Says once what is wrong and how to fix it, then at most once a minute while it lasts: the
   * connections retry every ≤ 2 s, and each attempt's error must not become a line of its own.
   */
  private problem(description: string): void {
    this.lastProblem = description;
    const now = Date.now();
    if (!this.outage) {
      this.outage = { since: now, toldAt: now };
      this.logger.warn({
        msg: 'redis unavailable',
        address: this.address,
        reason: description,
        hint: 'check REDIS_URL and that Redis is running and reachable; retrying every 2 s, clients get 1013 (try again later) meanwhile',
      });
    } else if (now - this.outage.toldAt >= OUTAGE_REMINDER_MS) {
      this.outage.toldAt = now;
      this.logger.warn({ msg: 'redis still unavailable', address: this.address, reason: description, downForS: Math.round((now - this.outage.since) / 1000) });
    }
  }
}
