import { Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { CloseCode, DaemonStatus, ServerMessageType, type DaemonStatusPayload, type Frame, type StreamPosition } from '@arbor/gateway-client/protocol';
import type { GatewayConfig } from '../config/gateway-config.js';
import { unavailable } from '../errors/domain.error.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RedisConnections } from '../redis/redis-connections.js';
import { Attr, messagingSpan, SpanKind, traceContextOf } from '../tracing/tracing.js';
import { ChannelProbe } from './cluster/channel-probe.js';
import { EventSequencer, type EventHistory } from './cluster/event-sequencer.js';
import { decodeEventBatch, decodeInstanceMessage, encodeInstanceMessage, type InstanceMessage } from './cluster/instance-messages.js';
import { DaemonBroker, type AttachResult, type CommandNudge, type CommandStatusMessage, type PresencePatch } from './daemon.broker.js';
import type { DaemonPresence } from './presence/daemon-presence.js';
import { RedisPresence } from './presence/redis-presence.js';
import { InMemoryDaemonBroker } from './in-memory-daemon.broker.js';
import type { PeerLink } from './peer-link.js';
import { EventFrame } from './streams/event-frame.js';

/**
 * Presence, routing and fan-out across instances through Redis, around an in-memory broker that
 * keeps this instance's own bookkeeping. Local pairs never depend on Redis: events reach this
 * instance's watchers directly and are published for the others; daemons' presence keys expire
 * unless their holder refreshes them, so a crashed instance's daemons go offline by themselves.
 */
export class RedisDaemonBroker extends DaemonBroker implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RedisDaemonBroker.name);
  private readonly refreshEveryMs: number;
  /** Last status known here of daemons watched here but held elsewhere. */
  private readonly remoteStatus = new Map<string, { status: DaemonStatus; lastHeartbeat: number | null; missing?: boolean }>();
  private lostListeners: Array<(daemonId: string, lastHeartbeat: number | null) => void> = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly warned = new Set<string>();
  private readonly local: InMemoryDaemonBroker;
  private readonly sequencer: EventSequencer;
  private readonly probe: ChannelProbe;
  private commandListener: ((daemonId: string, nudge: CommandNudge) => void) | undefined;
  private statusListener: ((message: CommandStatusMessage) => void) | undefined;
  readonly isShared = true;

  constructor(
    private readonly redis: RedisConnections,
    config: GatewayConfig,
    /** Reads missed events back from the shared history, to fill gaps pub/sub left. */
    private readonly history?: EventHistory,
    metrics?: GatewayMetrics,
    /** Shared presence; its own when not given (tests). */
    private readonly presence = new RedisPresence(redis, config.daemonStaleMs),
  ) {
    super();
    this.local = new InMemoryDaemonBroker(redis.instanceId);
    this.refreshEveryMs = Math.max(5, Math.min(Math.floor(config.daemonStaleMs / 3), 5000));
    this.sequencer = new EventSequencer(
      {
        isWatched: (daemonId) => this.local.isWatchedLocally(daemonId),
        isHeldHere: (daemonId) => this.local.entry(daemonId) !== undefined,
        deliver: (daemonId, frame) => this.deliverSequenced(daemonId, frame),
        warn: (operation, error) => this.warn(operation, error),
      },
      history,
      metrics,
    );
    const publishProbe = (at: number) => void this.publishTo(this.redis.instanceId, { t: 'probe', at }).catch((error: unknown) => this.warn('probe', error));
    this.probe = new ChannelProbe(redis, publishProbe, metrics);
  }

  get instanceId(): string {
    return this.redis.instanceId;
  }

  onModuleInit(): void {
    this.redis.onMessage((channel, message) => this.received(channel, message));
    void this.redis.subscribe(this.instanceChannel(this.redis.instanceId));
    this.redis.onReady(() => {
      this.warned.clear();
      void this.republishPresence();
    });
    this.redis.onResubscribed(() => {
      this.sequencer.catchUp();
      // A failover may have lost our daemons' presence: the refresh writes back what is missing.
      void this.refresh();
    });
    this.refreshTimer = setInterval(() => void this.refresh(), this.refreshEveryMs);
    this.probe.start();
  }

  onModuleDestroy(): void {
    clearInterval(this.refreshTimer);
    this.probe.stop();
  }

  async attachDaemon(daemonId: string, link: PeerLink, now: number): Promise<AttachResult> {
    const result = await this.local.attachDaemon(daemonId, link, now);
    try {
      const previous = await this.presence.attach(daemonId, link.id, now);
      if (previous && previous.instance !== this.redis.instanceId)
        await this.publishTo(previous.instance, { t: 'replaced', d: daemonId, c: previous.connection });
    } catch (error) {
      this.warn('attach', error);
    }
    this.remoteStatus.delete(daemonId);
    return result;
  }

  async detachDaemon(daemonId: string, link: PeerLink, handover = false): Promise<boolean> {
    if (!(await this.local.detachDaemon(daemonId, link))) return false;
    // Handed over: the presence expires by itself unless the daemon attaches elsewhere first.
    if (handover) return true;
    try {
      // 0: another instance took the daemon over meanwhile, so it is not offline.
      return await this.presence.detach(daemonId, link.id);
    } catch (error) {
      this.warn('detach', error);
      return true;
    }
  }

  async getPresence(daemonId: string): Promise<DaemonPresence | undefined> {
    const local = await this.local.getPresence(daemonId);
    if (local) return local;
    return this.shared(() => this.presence.read(daemonId));
  }

  async holderOf(daemonId: string): Promise<string | undefined> {
    if (this.local.entry(daemonId)) return this.redis.instanceId;
    return this.shared(() => this.presence.holderOf(daemonId));
  }

  /** A read of shared state; Redis away is `unavailable` to the caller. */
  private async shared<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch {
      throw unavailable();
    }
  }

  async updatePresence(daemonId: string, patch: PresencePatch): Promise<DaemonPresence | undefined> {
    const presence = await this.local.updatePresence(daemonId, patch);
    const entry = this.local.entry(daemonId);
    // The whole hash, not the changed fields: a failover may have lost the key, and a partial hash
    // without `instance` would make the daemon look held by nobody.
    if (presence && entry) this.presence.write(entry.presence, entry.link.id).catch((error: unknown) => this.warn('update presence', error));
    return presence;
  }

  localDaemons(): Iterable<DaemonPresence> {
    return this.local.localDaemons();
  }

  localDaemonLink(daemonId: string): PeerLink | undefined {
    return this.local.localDaemonLink(daemonId);
  }

  /** Resolves once events published anywhere reach this watcher (the subscription is confirmed). */
  async watch(daemonId: string, link: PeerLink): Promise<void> {
    await this.local.watch(daemonId, link);
    await this.redis.subscribe(this.redis.eventsChannel(daemonId));
  }

  async unwatch(daemonId: string, link: PeerLink): Promise<number> {
    const remaining = await this.local.unwatch(daemonId, link);
    if (remaining === 0 && !this.local.isWatchedLocally(daemonId)) {
      this.redis.unsubscribe(this.redis.eventsChannel(daemonId));
      this.remoteStatus.delete(daemonId);
      this.sequencer.forget(daemonId);
    }
    return remaining;
  }

  isWatchedLocally(daemonId: string): boolean {
    return this.local.isWatchedLocally(daemonId);
  }

  localWatchedDaemonIds(): Iterable<string> {
    return this.local.localWatchedDaemonIds();
  }

  deliverEvent(frame: EventFrame): void {
    this.sequencer.sequence(frame);
  }

  deliverLocally(daemonId: string, frame: Frame | EventFrame): void {
    this.local.deliverLocally(daemonId, frame);
  }

  admitted(daemonId: string, position: StreamPosition): void {
    this.sequencer.admitted(daemonId, position);
  }

  retract(daemonId: string, position: StreamPosition): void {
    this.sequencer.retract(daemonId, position);
  }

  onDaemonLost(listener: (daemonId: string, lastHeartbeat: number | null) => void): void {
    this.lostListeners.push(listener);
  }

  async routeCommand(daemonId: string, instance: string, nudge: CommandNudge): Promise<void> {
    if (instance === this.redis.instanceId) return void this.commandListener?.(daemonId, nudge);
    // The hop through Redis: a producer span here, a consumer span where the daemon is.
    const span = messagingSpan(
      'send',
      nudge.frame.type,
      SpanKind.PRODUCER,
      { [Attr.Destination]: 'instance', [Attr.DaemonId]: daemonId, [Attr.Instance]: this.redis.instanceId, [Attr.TargetInstance]: instance },
      nudge.frame.tc,
    );
    const frame = span ? { ...nudge.frame, tc: traceContextOf(span) } : nudge.frame;
    try {
      await this.publishTo(instance, { t: 'command', d: daemonId, s: nudge.seq, f: frame });
    } finally {
      span?.end();
    }
  }

  onCommand(listener: (daemonId: string, nudge: CommandNudge) => void): void {
    this.commandListener = listener;
  }

  async sendCommandStatus(instance: string, message: CommandStatusMessage): Promise<void> {
    if (instance === this.redis.instanceId) return void this.statusListener?.(message);
    await this.publishTo(instance, { t: 'command-status', d: message.daemonId, i: message.id, s: message.status });
  }

  onCommandStatus(listener: (message: CommandStatusMessage) => void): void {
    this.statusListener = listener;
  }

  // ---- incoming ------------------------------------------------------------------------------

  /** A recorded batch of another instance's (ours were delivered here when recorded), or a message for this instance. */
  private received(channel: string, message: string): void {
    const daemonId = this.redis.daemonOfEventsChannel(channel);
    if (daemonId !== undefined) {
      const batch = decodeEventBatch(daemonId, message);
      // While this instance numbers the daemon without Redis, another's batch is a newer holder's:
      // held back until the holder here is settled (recorded, or retracted and caught up).
      if (batch && batch.publisher !== this.redis.instanceId && !this.history?.isProvisional(daemonId))
        for (const frame of batch.frames) this.sequencer.sequence(frame);
      return;
    }
    if (channel !== this.instanceChannel(this.redis.instanceId)) return;
    const decoded = decodeInstanceMessage(message);
    if (decoded) this.instanceMessage(decoded);
    else this.warn('decode', new Error('an instance message that is not one'));
  }

  private instanceMessage(message: InstanceMessage): void {
    switch (message.t) {
      case 'probe':
        return this.probe.heard(message.at);
      case 'command':
        return this.commandArrived(message.d, message.s, message.f);
      case 'command-status':
        return void this.statusListener?.({ daemonId: message.d, id: message.i, status: message.s });
      case 'replaced': {
        const link = this.local.localDaemonLink(message.d);
        if (!link || link.id !== message.c) return;
        // Forget it first: its close must not announce the daemon offline, it lives on elsewhere.
        this.local.forget(message.d);
        this.logger.log({ msg: 'daemon replaced by a connection on another instance', daemonId: message.d, connectionId: link.id });
        link.close(CloseCode.Replaced, 'replaced by a newer connection');
      }
    }
  }

  private commandArrived(daemonId: string, seq: number, frame: Frame): void {
    const span = messagingSpan(
      'process',
      frame.type,
      SpanKind.CONSUMER,
      { [Attr.Destination]: 'daemon', [Attr.DaemonId]: daemonId, [Attr.Instance]: this.redis.instanceId },
      frame.tc,
    );
    this.commandListener?.(daemonId, { seq, frame: span ? { ...frame, tc: traceContextOf(span) } : frame });
    span?.end();
  }

  /** A sequenced event (or resync) for the watchers here; a remote daemon's status is remembered for the presence checks. */
  private deliverSequenced(daemonId: string, frame: Frame | EventFrame): void {
    if (frame instanceof EventFrame && frame.type === ServerMessageType.DaemonStatus && !this.local.entry(daemonId)) this.rememberStatus(frame);
    this.local.deliverLocally(daemonId, frame);
  }

  /** Reads a status change's payload (the envelope's fields are the frame's). */
  private rememberStatus(frame: EventFrame): void {
    const { payload } = JSON.parse(frame.text) as { payload: DaemonStatusPayload };
    this.remoteStatus.set(frame.daemonId, { status: payload.status, lastHeartbeat: payload.lastHeartbeat ? Date.parse(payload.lastHeartbeat) : null });
  }

  // ---- upkeep --------------------------------------------------------------------------------

  /** Keeps our daemons' presence alive and notices watched daemons whose holder vanished. */
  private async refresh(): Promise<void> {
    if (!this.redis.isReady) return;
    try {
      // One command per daemon, not a pipeline: on a Cluster each daemon's key is on its own
      // shard, and auto-pipelining still sends each node's share in one write.
      const remote = [...this.local.localWatchedDaemonIds()].filter((daemonId) => !this.local.entry(daemonId));
      const [, lookups] = await Promise.all([
        Promise.all(
          [...this.local.entries()].map(async (entry) => {
            // Gone although we hold the daemon: a failover lost it (replication is asynchronous). Write it again.
            if (!(await this.presence.keepAlive(entry.presence.daemonId))) await this.presence.restore(entry.presence, entry.link.id);
          }),
        ),
        Promise.allSettled(remote.map((daemonId) => this.presence.statusOf(daemonId))),
      ]);
      remote.forEach((daemonId, index) => {
        const lookup = lookups[index];
        if (lookup.status === 'rejected') return;
        const known = this.remoteStatus.get(daemonId);
        if (lookup.value) {
          this.remoteStatus.set(daemonId, lookup.value);
        } else if (known && known.status !== DaemonStatus.Offline && !known.missing) {
          // Missing once may be a clean disconnect whose `offline` is still on its way through
          // pub/sub: only a presence still missing at the next check means its holder vanished.
          known.missing = true;
        } else if (known && known.status !== DaemonStatus.Offline) {
          this.remoteStatus.set(daemonId, { status: DaemonStatus.Offline, lastHeartbeat: known.lastHeartbeat });
          for (const listener of this.lostListeners) listener(daemonId, known.lastHeartbeat);
        } else if (!known) {
          this.remoteStatus.set(daemonId, { status: DaemonStatus.Offline, lastHeartbeat: null });
        }
      });
    } catch (error) {
      this.warn('refresh', error);
    }
  }

  /** After Redis comes back (possibly empty), say again which daemons we hold. */
  private async republishPresence(): Promise<void> {
    if (this.local.size === 0) return;
    try {
      await Promise.all([...this.local.entries()].map((entry) => this.presence.restore(entry.presence, entry.link.id)));
      this.logger.log({ msg: 'presence re-published', daemons: this.local.size });
    } catch (error) {
      this.warn('republish presence', error);
    }
  }

  /** A message on an instance's channel; resolves once Redis took it. */
  private async publishTo(instanceId: string, message: InstanceMessage): Promise<void> {
    await this.redis.publish(this.instanceChannel(instanceId), encodeInstanceMessage(message));
  }

  private instanceChannel(instanceId: string): string {
    return this.redis.instanceKey(instanceId, 'inbox');
  }

  /** Once per operation per outage: a Redis outage must not become a log flood. */
  private warn(operation: string, error: unknown): void {
    if (this.warned.has(operation)) return;
    this.warned.add(operation);
    this.logger.warn({ msg: 'redis operation failed', operation, error: error instanceof Error ? error.message : String(error) });
  }
}
