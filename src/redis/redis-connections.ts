import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { INSTANCE_ID } from '../config/instance-id.js';
import { describeRedisTopology, parseRedisUrl, RedisTopologyKind, type RedisTopology } from '../config/redis-address.js';
import { openRedisClient, type RedisClasses, type RedisClient } from './redis-clients.js';

export type { RedisClient } from './redis-clients.js';

export type MessageListener = (channel: string, message: string) => void;

const EVENTS_CHANNEL_SUFFIX = '}:events';

/** While Redis stays away, the log says so again this often. */
const OUTAGE_REMINDER_MS = 60_000;

/** Cluster topology changes come in bursts (a failover is several events): re-subscribe once after them. */
const RESUBSCRIBE_SETTLE_MS = 100;

/**
 * The two Redis clients an instance needs: one for commands (pipelined), one for subscriptions.
 * Commands fail fast while Redis is unreachable (no offline queue), so callers answer
 * `unavailable` instead of hanging; subscriptions are re-established on every reconnect.
 *
 * On a Cluster, pub/sub is sharded (`SPUBLISH`/`SSUBSCRIBE`): a channel lives on the shard of its
 * hash tag's slot, so a daemon's events travel through its own shard instead of being copied to
 * every node. ioredis keeps one subscriber connection per shard and moves channels when slots move.
 */
export class RedisConnections implements OnModuleDestroy {
  readonly commands: RedisClient;
  private currentSubscriber: RedisClient;
  /** Pub/sub is sharded (Cluster): publish with SPUBLISH, subscribe with SSUBSCRIBE. */
  readonly sharded: boolean;
  /** Counted here, exported by the metrics module at scrape time. */
  readonly events = { reconnects: 0, resubscribes: 0, topologyChanges: 0 };
  private readonly everReady = new Set<'commands' | 'subscriber'>();
  /** Unique per process: presence says which instance holds a daemon. */
  /** Unique per instance, also when a test runs several in one process. */
  readonly instanceId = `${INSTANCE_ID}-${randomBytes(2).toString('hex')}`;
  private readonly logger = new Logger('Redis');
  /** Wanted channels, each with the promise of its current subscription. */
  private readonly channels = new Map<string, Promise<void>>();
  private readonly listeners = new Set<MessageListener>();
  private readonly readyListeners = new Set<() => void>();
  private readonly resubscribedListeners = new Set<() => void>();
  private resubscribeTimer: NodeJS.Timeout | undefined;
  private lastProblem: string | undefined = 'connecting';
  private heardOwnChannel = false;
  /** While Redis is unreachable: since when, and when the log last said so (one line per minute at most). */
  private outage: { since: number; toldAt: number } | undefined;
  /** Where Redis is, for messages: host and port only (the URL may carry a password). */
  private readonly address: string;

  /** ioredis is loaded only by instances configured with Redis: a single instance never pays for it. */
  static async create(address: string | RedisTopology, prefix: string): Promise<RedisConnections> {
    const { Redis: RedisServer, Cluster: RedisCluster } = await import('ioredis');
    return new RedisConnections(typeof address === 'string' ? parseRedisUrl(address) : address, prefix, { RedisServer, RedisCluster });
  }

  private constructor(
    private readonly topology: RedisTopology,
    readonly prefix: string,
    private readonly classes: RedisClasses,
  ) {
    this.sharded = topology.kind === RedisTopologyKind.Cluster;
    this.address = describeRedisTopology(topology);
    // Auto-pipelining batches the commands of one event-loop turn (appends, publishes) into one write per node.
    this.commands = openRedisClient(topology, classes, { enableAutoPipelining: true, connectionName: `arbor-${this.instanceId}` });
    this.watch('commands', this.commands);
    if (this.sharded) {
      for (const event of ['+node', '-node']) {
        this.commands.on(event, () => {
          // The first connection discovers every node; only later changes are failovers or moves.
          if (this.everReady.has('commands')) this.events.topologyChanges += 1;
        });
      }
    }
    this.currentSubscriber = this.openSubscriber();
  }

  /** The connection subscriptions live on; replaced as a whole when it stays deaf (see `reconnectSubscriber`). */
  get subscriber(): RedisClient {
    return this.currentSubscriber;
  }

  private openSubscriber(): RedisClient {
    const subscriber = openRedisClient(this.topology, this.classes, {
      connectionName: `arbor-sub-${this.instanceId}`,
      shardedSubscribers: this.sharded,
    });
    // A replaced subscriber is closed, not stripped of listeners (ioredis listens to itself too):
    // whatever it still says is ignored.
    const current = () => subscriber === this.currentSubscriber;
    this.watch('subscriber', subscriber, current);
    subscriber.on(this.sharded ? 'smessage' : 'message', (channel: string, message: string) => {
      if (!current()) return;
      for (const listener of this.listeners) listener(channel, message);
    });
    if (this.sharded) {
      // A shard's subscriber lost, a failover, a slot moved (the server then drops the channel's
      // subscription itself): subscribe every wanted channel again once the topology settles.
      for (const event of ['+node', '-node', '-subscriber', '+subscriber', 'subscribersReady', 'nodeError']) {
        subscriber.on(event, () => current() && this.resubscribeSoon());
      }
    }
    return subscriber;
  }

  private watch(name: 'commands' | 'subscriber', client: RedisClient, current: () => boolean = () => true): void {
    client.on('error', (error: Error) => current() && this.problem(`${name}: ${error.message}`));
    client.on('end', () => current() && this.problem(`${name}: connection ended`));
    client.on('ready', () => current() && this.ready(name));
  }

  /** Publishes on a channel (sharded on a Cluster); resolves with the number of receivers. */
  publish(channel: string, message: string): Promise<number> {
    return this.sharded ? this.commands.spublish(channel, message).then(Number) : this.commands.publish(channel, message);
  }

  /** A Lua script's text for this topology: its PUBLISH is SPUBLISH on a Cluster. */
  lua(text: string): string {
    return this.sharded ? text.replaceAll("redis.call('PUBLISH'", "redis.call('SPUBLISH'") : text;
  }

  /**
   * Called after the subscriptions were re-established (a reconnect, a failover, a slot move):
   * pub/sub may have dropped messages meanwhile, and the stream holds them.
   */
  onResubscribed(listener: () => void): void {
    this.resubscribedListeners.add(listener);
  }

  /** Both connections are usable. */
  get isReady(): boolean {
    return this.commandsReady && this.subscriber.status === 'ready';
  }

  /** Commands can be sent: what `onReady` listeners are told, whatever the subscriber's state. */
  get commandsReady(): boolean {
    return this.commands.status === 'ready';
  }

  /**
   * Whether a message this instance published to its own channel came back since boot. Until then
   * messages routed to it may still be lost: a Cluster's shard subscribers start after the
   * connections report ready, and a confirmed SUBSCRIBE alone does not prove they run.
   */
  get ownChannelHeard(): boolean {
    return this.heardOwnChannel;
  }

  /** Called by whoever listens on this instance's channel when its own message arrives. */
  heardOwnChannelMessage(): void {
    this.heardOwnChannel = true;
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

  /** The instance registry, under one tag of its own. */
  instancesKey(part: string): string {
    return `${this.prefix}{instances}:${part}`;
  }

  /** The webhook outbox, under one tag of its own (its scripts touch one slot). */
  webhooksKey(part: string): string {
    return `${this.prefix}{webhooks}:${part}`;
  }

  /** The index of known daemons, under one tag of its own. */
  daemonsIndexKey(): string {
    return `${this.prefix}{daemons}:index`;
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
          ? this.subscribeNow([channel]).then(
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
    if (this.subscriber.status !== 'ready') return;
    const unsubscribed = this.sharded ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel);
    unsubscribed.catch((error: Error) => this.problem(`unsubscribe: ${error.message}`));
  }

  private subscribeNow(channels: string[]): Promise<unknown> {
    if (!this.sharded) return this.subscriber.subscribe(...channels);
    // SSUBSCRIBE takes channels of one slot per call; ioredis routes each call to its shard.
    return Promise.all(channels.map((channel) => this.subscriber.ssubscribe(channel)));
  }

  /**
   * Subscribes every wanted channel again now: for a caller that proved a subscription deaf (its
   * own probe did not come back; a Cluster's SSUBSCRIBE can stay unanswered while a shard starts).
   */
  resubscribeAll(): void {
    if (this.subscriber.status === 'ready') this.resubscribe();
  }

  /**
   * Replaces the subscriber with a new client (it subscribes every wanted channel when ready): for
   * a subscription that stayed deaf although subscribing again was tried. A new client rather than
   * a reconnect, because a Cluster client's shard-subscriber group can be left stuck by a reconnect
   * that interrupts a shard subscriber while it connects, and a reconnect keeps that state.
   */
  reconnectSubscriber(): void {
    if (this.subscriber.status !== 'ready') return;
    this.logger.warn({ msg: 'redis subscriber deaf to its own channel, replacing it', instanceId: this.instanceId });
    const deaf = this.currentSubscriber;
    this.currentSubscriber = this.openSubscriber();
    deaf.disconnect();
  }

  /** Subscribes every wanted channel again, then tells the listeners (who fill what was missed). */
  private resubscribe(): void {
    if (this.channels.size === 0) {
      for (const listener of this.resubscribedListeners) listener();
      return;
    }
    this.events.resubscribes += 1;
    const resubscribed = this.subscribeNow([...this.channels.keys()]).then(
      () => {
        for (const listener of this.resubscribedListeners) listener();
      },
      (error: Error) => this.problem(`resubscribe: ${error.message}`),
    );
    for (const channel of this.channels.keys()) this.channels.set(channel, resubscribed);
  }

  private resubscribeSoon(): void {
    clearTimeout(this.resubscribeTimer);
    this.resubscribeTimer = setTimeout(() => {
      if (this.subscriber.status === 'ready') this.resubscribe();
    }, RESUBSCRIBE_SETTLE_MS);
  }

  async onModuleDestroy(): Promise<void> {
    this.listeners.clear();
    this.readyListeners.clear();
    this.resubscribedListeners.clear();
    clearTimeout(this.resubscribeTimer);
    // QUIT lets replies owed arrive; disconnect() then also closes what QUIT leaves open (the
    // sentinel connections of the failover detector).
    await Promise.all(
      [this.commands, this.currentSubscriber].map((client) =>
        client.quit().then(
          () => client.disconnect(),
          () => client.disconnect(),
        ),
      ),
    );
  }

  private ready(name: 'commands' | 'subscriber'): void {
    if (this.everReady.has(name)) this.events.reconnects += 1;
    this.everReady.add(name);
    if (name === 'subscriber') this.resubscribe();
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
