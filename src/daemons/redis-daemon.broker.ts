import { Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import {
  CloseCode,
  DaemonStatus,
  ServerMessageType,
  type DaemonStatusPayload,
  type Frame,
  type ResyncRequiredPayload,
  type StreamPosition,
} from '@arbor/gateway-client/protocol';
import type { GatewayConfig } from '../config/gateway-config.js';
import { unavailable } from '../errors/domain.error.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RedisConnections } from '../redis/redis-connections.js';
import type { AttachResult, PresencePatch } from './daemon.broker.js';
import type { DaemonPresence } from './daemon-presence.js';
import { Attr, messagingSpan, SpanKind, traceContextOf } from '../tracing/tracing.js';
import { InMemoryDaemonBroker } from './in-memory-daemon.broker.js';
import { EventFrame, typeOfCode } from './streams/event-frame.js';
import type { PeerLink } from './peer-link.js';

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

type InstanceMessage = { t: 'replaced'; d: string; c: string } | { t: 'command'; d: string; f: Frame } | { t: 'probe'; at: number };

/** How often an instance measures its pub/sub round trip. */
const PROBE_EVERY_MS = 5_000;
/** How often a booting instance probes its own channel until it hears it (then it is ready). */
const BOOT_PROBE_EVERY_MS = 100;
/** Probes unanswered before its channels are subscribed again (2 s). */
const BOOT_RESUBSCRIBE_AFTER_PROBES = 20;
/** Probes unanswered before the subscriber connection is replaced (6 s): subscribing again did not help. */
const BOOT_RECONNECT_AFTER_PROBES = 60;

/** Epochs a daemon left behind, remembered so their late arrivals are recognised and dropped. */
const RETIRED_EPOCHS = 4;

/** What this instance delivered of one daemon's stream to its watchers here. */
interface Delivered {
  epoch: string;
  seq: number;
  /** Epochs superseded by `epoch`, newest last. */
  retired: string[];
  /** True while a gap is filled from the history; arrivals meanwhile wait in `backlog`. */
  filling: boolean;
  backlog: EventFrame[];
}

/**
 * Presence, routing and fan-out across instances through Redis, on top of the in-memory broker's
 * local bookkeeping. Local pairs never depend on Redis: events reach this instance's watchers
 * directly and are published for the others; daemons' presence keys expire unless their holder
 * refreshes them, so a crashed instance's daemons go offline by themselves.
 */
export class RedisDaemonBroker extends InMemoryDaemonBroker implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RedisDaemonBroker.name);
  private readonly presenceTtlMs: number;
  private readonly refreshEveryMs: number;
  /** Last status known here of daemons watched here but held elsewhere. */
  private readonly remoteStatus = new Map<string, { status: DaemonStatus; lastHeartbeat: number | null; missing?: boolean }>();
  private lostListeners: Array<(daemonId: string, lastHeartbeat: number | null) => void> = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private bootProbeTimer: NodeJS.Timeout | undefined;
  private readonly warned = new Set<string>();
  /**
   * Per daemon watched here: the last event delivered, from whichever instance numbered it — our
   * own recorded events and other instances' arrive by different connections, and go through one
   * sequence so nothing reaches a watcher twice or out of order.
   */
  private readonly delivered = new Map<string, Delivered>();

  constructor(
    private readonly redis: RedisConnections,
    config: GatewayConfig,
    /** Reads missed events back from the shared history, to fill gaps pub/sub left. */
    private readonly history?: {
      range(daemonId: string, epoch: string, from: number, to: number): Promise<EventFrame[] | undefined>;
      position(daemonId: string): Promise<StreamPosition>;
    },
    private readonly metrics?: GatewayMetrics,
  ) {
    super(redis.instanceId);
    this.presenceTtlMs = config.daemonStaleMs;
    this.refreshEveryMs = Math.max(5, Math.min(Math.floor(config.daemonStaleMs / 3), 5000));
  }

  onModuleInit(): void {
    this.redis.onMessage((channel, message) => this.received(channel, message));
    void this.redis.subscribe(this.instanceChannel(this.redis.instanceId));
    this.redis.onReady(() => {
      this.warned.clear();
      void this.republishPresence();
    });
    this.redis.onResubscribed(() => {
      this.catchUp();
      // A failover may have lost our daemons' presence: the refresh writes back what is missing.
      void this.refresh();
    });
    this.refreshTimer = setInterval(() => void this.refresh(), this.refreshEveryMs);
    if (this.metrics) this.probeTimer = setInterval(() => this.probe(), PROBE_EVERY_MS);
    let unheard = 0;
    this.bootProbeTimer = setInterval(() => {
      if (this.redis.ownChannelHeard) return clearInterval(this.bootProbeTimer);
      this.probe();
      if (!this.redis.isReady) return;
      unheard += 1;
      // Still deaf after a while: subscribe again rather than wait on an answer that may never come,
      // and if that does not help either, start over with a new subscriber connection.
      if (unheard % BOOT_RECONNECT_AFTER_PROBES === 0) this.redis.reconnectSubscriber();
      else if (unheard % BOOT_RESUBSCRIBE_AFTER_PROBES === 0) this.redis.resubscribeAll();
    }, BOOT_PROBE_EVERY_MS);
  }

  onModuleDestroy(): void {
    clearInterval(this.refreshTimer);
    clearInterval(this.probeTimer);
    clearInterval(this.bootProbeTimer);
  }

  /** Publishes a timestamp to ourselves: the round trip is the pub/sub lag. */
  private probe(): void {
    if (!this.redis.isReady) return;
    const message: InstanceMessage = { t: 'probe', at: Date.now() };
    this.redis.publish(this.instanceChannel(this.redis.instanceId), JSON.stringify(message)).catch((error: unknown) => this.warn('probe', error));
  }

  override async attachDaemon(daemonId: string, link: PeerLink, now: number): Promise<AttachResult> {
    const result = await super.attachDaemon(daemonId, link, now);
    try {
      const [instance, connection] = (await this.redis.commands.eval(
        ATTACH,
        1,
        this.presenceKey(daemonId),
        this.redis.instanceId,
        link.id,
        String(now),
        String(this.presenceTtlMs),
      )) as [string | null, string | null];
      if (instance && instance !== this.redis.instanceId && connection) {
        await this.redis.publish(this.instanceChannel(instance), JSON.stringify({ t: 'replaced', d: daemonId, c: connection } satisfies InstanceMessage));
      }
    } catch (error) {
      this.warn('attach', error);
    }
    this.remoteStatus.delete(daemonId);
    return result;
  }

  override readonly isShared = true;

  override async detachDaemon(daemonId: string, link: PeerLink, handover = false): Promise<boolean> {
    if (!(await super.detachDaemon(daemonId, link))) return false;
    // Handed over: the presence expires by itself unless the daemon attaches elsewhere first.
    if (handover) return true;
    try {
      // 0: another instance took the daemon over meanwhile, so it is not offline.
      return (await this.redis.commands.eval(DETACH, 1, this.presenceKey(daemonId), this.redis.instanceId, link.id)) === 1;
    } catch (error) {
      this.warn('detach', error);
      return true;
    }
  }

  override async getPresence(daemonId: string): Promise<DaemonPresence | undefined> {
    const local = await super.getPresence(daemonId);
    if (local) return local;
    let fields: Record<string, string>;
    try {
      fields = await this.redis.commands.hgetall(this.presenceKey(daemonId));
    } catch {
      throw unavailable();
    }
    if (!fields.instance) return undefined;
    return {
      daemonId,
      status: fields.status === DaemonStatus.Stale ? DaemonStatus.Stale : DaemonStatus.Online,
      lastHeartbeat: fields.lastHeartbeat ? Number(fields.lastHeartbeat) : null,
      connectedAt: Number(fields.connectedAt),
      instance: fields.instance,
    };
  }

  override async updatePresence(daemonId: string, patch: PresencePatch): Promise<DaemonPresence | undefined> {
    const presence = await super.updatePresence(daemonId, patch);
    const entry = this.daemons.get(daemonId);
    // The whole hash, not the changed fields: a failover may have lost the key, and a partial hash
    // without `instance` would make the daemon look held by nobody.
    if (presence && entry) this.writePresence(entry).catch((error: unknown) => this.warn('update presence', error));
    return presence;
  }

  /** Resolves once events published anywhere reach this watcher (the subscription is confirmed). */
  override async watch(daemonId: string, link: PeerLink): Promise<void> {
    await super.watch(daemonId, link);
    await this.redis.subscribe(this.redis.eventsChannel(daemonId));
  }

  override async unwatch(daemonId: string, link: PeerLink): Promise<number> {
    const remaining = await super.unwatch(daemonId, link);
    if (remaining === 0 && !this.watchers.has(daemonId)) {
      this.redis.unsubscribe(this.redis.eventsChannel(daemonId));
      this.remoteStatus.delete(daemonId);
      this.delivered.delete(daemonId);
    }
    return remaining;
  }

  override deliverEvent(frame: EventFrame): void {
    this.sequence(frame);
  }

  override admitted(daemonId: string, position: StreamPosition): void {
    if (this.watchers.has(daemonId) && !this.delivered.has(daemonId)) this.delivered.set(daemonId, startedAt(position));
  }

  override async sendToDaemon(daemonId: string, frame: Frame): Promise<boolean> {
    if (await super.sendToDaemon(daemonId, frame)) return true;
    try {
      const holder = await this.redis.commands.hget(this.presenceKey(daemonId), 'instance');
      if (!holder || holder === this.redis.instanceId) return false;
      // The hop through Redis: a producer span here, a consumer span where the daemon is.
      const span = messagingSpan(
        'send',
        frame.type,
        SpanKind.PRODUCER,
        {
          [Attr.Destination]: 'instance',
          [Attr.DaemonId]: daemonId,
          [Attr.Instance]: this.redis.instanceId,
          [Attr.TargetInstance]: holder,
        },
        frame.tc,
      );
      const sent = span ? { ...frame, tc: traceContextOf(span) } : frame;
      try {
        const receivers = await this.redis.publish(
          this.instanceChannel(holder),
          JSON.stringify({ t: 'command', d: daemonId, f: sent } satisfies InstanceMessage),
        );
        return receivers > 0;
      } finally {
        span?.end();
      }
    } catch {
      throw unavailable();
    }
  }

  override onDaemonLost(listener: (daemonId: string, lastHeartbeat: number | null) => void): void {
    this.lostListeners.push(listener);
  }

  // ---- incoming ------------------------------------------------------------------------------

  /**
   * A recorded batch, `{instance}|{epoch}|{first seq}|{type codes}|{frame}\n{frame}…` (see the
   * append script); our own were delivered here when recorded.
   */
  private received(channel: string, message: string): void {
    const daemonId = this.redis.daemonOfEventsChannel(channel);
    if (daemonId !== undefined) {
      const [tagEnd, epochEnd, seqEnd, codesEnd] = separators(message, 4);
      if (codesEnd < 0 || message.slice(0, tagEnd) === this.redis.instanceId) return;
      const epoch = message.slice(tagEnd + 1, epochEnd);
      const first = Number(message.slice(epochEnd + 1, seqEnd));
      const codes = message.slice(seqEnd + 1, codesEnd);
      message
        .slice(codesEnd + 1)
        .split('\n')
        .forEach((text, index) => {
          const type = typeOfCode(codes[index]);
          if (type) this.sequence(new EventFrame(type, daemonId, epoch, first + index, text));
        });
      return;
    }
    if (channel === this.instanceChannel(this.redis.instanceId)) this.instanceMessage(JSON.parse(message) as InstanceMessage);
  }

  private instanceMessage(message: InstanceMessage): void {
    if (message.t === 'probe') {
      this.redis.heardOwnChannelMessage();
      return void this.metrics?.pubsubLag.set((Date.now() - message.at) / 1000);
    }
    const link = this.localDaemonLink(message.d);
    if (message.t === 'command') {
      if (!link) return;
      const span = messagingSpan(
        'process',
        message.f.type,
        SpanKind.CONSUMER,
        {
          [Attr.Destination]: 'daemon',
          [Attr.DaemonId]: message.d,
          [Attr.Instance]: this.redis.instanceId,
        },
        message.f.tc,
      );
      link.send(span ? { ...message.f, tc: traceContextOf(span) } : message.f);
      span?.end();
      return;
    }
    if (link && link.id === message.c) {
      // Forget it first: its close must not announce the daemon offline, it lives on elsewhere.
      this.daemons.delete(message.d);
      this.logger.log({ msg: 'daemon replaced by a connection on another instance', daemonId: message.d, connectionId: link.id });
      link.close(CloseCode.Replaced, 'replaced by a newer connection');
    }
  }

  /**
   * Delivers the daemon's events in stream order, whichever instance recorded them: repeats are
   * dropped; a gap in `seq` (pub/sub lost messages, or our own next event overtook another
   * instance's last ones) is filled from the history before anything after it is delivered; a new
   * epoch is announced with `resync-required` before its first event.
   */
  private sequence(frame: EventFrame): void {
    const { daemonId, epoch, seq } = frame;
    if (!this.watchers.has(daemonId)) return;
    const state = this.delivered.get(daemonId);
    if (!state) {
      this.delivered.set(daemonId, startedAt(frame));
      return this.deliverNumbered(frame);
    }
    if (state.filling) {
      state.backlog.push(frame);
      return;
    }
    if (epoch !== state.epoch) {
      // A late event of an epoch already left behind is history that was lost: never delivered.
      if (state.retired.includes(epoch)) return;
      state.retired = [...state.retired.slice(1 - RETIRED_EPOCHS), state.epoch];
      state.epoch = epoch;
      state.seq = seq;
      this.tellResync(daemonId, 'epoch_changed', { epoch, seq: seq - 1 });
      return this.deliverNumbered(frame);
    }
    if (seq <= state.seq) return;
    if (seq === state.seq + 1 || !this.history) {
      state.seq = seq;
      return this.deliverNumbered(frame);
    }
    void this.fill(state, frame);
  }

  private async fill(state: Delivered, frame: EventFrame): Promise<void> {
    const { daemonId, epoch, seq } = frame;
    state.filling = true;
    const from = state.seq + 1;
    const missing = await this.history!.range(daemonId, epoch, from, seq - 1).catch(() => undefined);
    if (this.delivered.get(daemonId) !== state) return;
    this.metrics?.gapFills.labels(missing ? 'filled' : 'history_expired').inc();
    if (missing) {
      for (const filled of missing) this.deliverNumbered(filled);
    } else {
      // Never a silent hole: the watchers learn that events are missing and where the stream goes on.
      this.warn('fill gap', new Error(`events ${from}-${seq - 1} of ${daemonId} are not in the history`));
      this.tellResync(daemonId, 'history_expired', { epoch, seq: seq - 1 });
    }
    state.seq = seq;
    this.deliverNumbered(frame);
    state.filling = false;
    for (const next of state.backlog.splice(0)) this.sequence(next);
  }

  /**
   * After the subscriptions were re-established: pub/sub may have dropped events of daemons held
   * elsewhere meanwhile. The stream has them; deliver them now, not at the daemon's next event.
   */
  private catchUp(): void {
    if (!this.history) return;
    for (const [daemonId, state] of this.delivered) {
      if (!this.daemons.has(daemonId) && !state.filling) void this.catchUpDaemon(daemonId, state);
    }
  }

  private async catchUpDaemon(daemonId: string, state: Delivered): Promise<void> {
    state.filling = true;
    try {
      const head = await this.history!.position(daemonId);
      if (this.delivered.get(daemonId) !== state) return;
      if (head.epoch !== state.epoch) {
        // The stream went on in an epoch we never saw begin (a failover lost its start, or it was renumbered).
        if (state.retired.includes(head.epoch)) return;
        state.retired = [...state.retired.slice(1 - RETIRED_EPOCHS), state.epoch];
        state.epoch = head.epoch;
        state.seq = head.seq;
        this.metrics?.gapFills.labels('epoch_changed').inc();
        this.tellResync(daemonId, 'epoch_changed', head);
      } else if (head.seq > state.seq) {
        const missing = await this.history!.range(daemonId, state.epoch, state.seq + 1, head.seq);
        if (this.delivered.get(daemonId) !== state) return;
        this.metrics?.gapFills.labels(missing ? 'filled' : 'history_expired').inc();
        if (missing) {
          for (const frame of missing) this.deliverNumbered(frame);
        } else {
          this.tellResync(daemonId, 'history_expired', head);
        }
        state.seq = head.seq;
      }
    } catch (error) {
      // Redis went away again: its return brings another resubscribe, and another catch-up.
      this.warn('catch up', error);
    } finally {
      if (this.delivered.get(daemonId) === state) {
        state.filling = false;
        for (const next of state.backlog.splice(0)) this.sequence(next);
      }
    }
  }

  private tellResync(daemonId: string, reason: ResyncRequiredPayload['reason'], stream: StreamPosition): void {
    this.metrics?.liveResyncs.labels(reason).inc();
    this.deliverLocally(daemonId, { type: ServerMessageType.ResyncRequired, daemonId, payload: { reason, stream } satisfies ResyncRequiredPayload });
  }

  private deliverNumbered(frame: EventFrame): void {
    // The status of a daemon held elsewhere, for the presence checks; ours is in `daemons`.
    if (frame.type === ServerMessageType.DaemonStatus && !this.daemons.has(frame.daemonId)) this.rememberStatus(frame);
    this.deliverLocally(frame.daemonId, frame);
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
      const remote = [...this.watchers.keys()].filter((daemonId) => !this.daemons.has(daemonId));
      const [, lookups] = await Promise.all([
        Promise.all(
          [...this.daemons.values()].map(async (entry) => {
            // Gone although we hold the daemon: a failover lost it (replication is asynchronous). Write it again.
            if ((await this.redis.commands.pexpire(this.presenceKey(entry.presence.daemonId), this.presenceTtlMs)) === 0) await this.writePresence(entry);
          }),
        ),
        Promise.allSettled(remote.map((daemonId) => this.redis.commands.hmget(this.presenceKey(daemonId), 'status', 'lastHeartbeat'))),
      ]);
      remote.forEach((daemonId, index) => {
        const lookup = lookups[index];
        if (lookup.status === 'rejected') return;
        const [status, lastHeartbeat] = lookup.value;
        const known = this.remoteStatus.get(daemonId);
        if (status) {
          this.remoteStatus.set(daemonId, { status: status as DaemonStatus, lastHeartbeat: lastHeartbeat ? Number(lastHeartbeat) : null });
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
    if (this.daemons.size === 0) return;
    try {
      await Promise.all([...this.daemons.values()].map((entry) => this.writePresence(entry)));
      this.logger.log({ msg: 'presence re-published', daemons: this.daemons.size });
    } catch (error) {
      this.warn('republish presence', error);
    }
  }

  /** A held daemon's whole presence hash, as attaching wrote it, with its TTL. */
  private writePresence({ presence, link }: { presence: DaemonPresence & { connectedAt: number }; link: PeerLink }): Promise<unknown> {
    const key = this.presenceKey(presence.daemonId);
    return this.redis.commands
      .multi()
      .hset(
        key,
        'instance',
        this.redis.instanceId,
        'connection',
        link.id,
        'status',
        presence.status,
        'connectedAt',
        String(presence.connectedAt),
        'lastHeartbeat',
        presence.lastHeartbeat === null ? '' : String(presence.lastHeartbeat),
      )
      .pexpire(key, this.presenceTtlMs)
      .exec();
  }

  private presenceKey(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'presence');
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

/** A daemon's sequence here, starting at `position` (delivered up to it). */
function startedAt(position: StreamPosition): Delivered {
  return { epoch: position.epoch, seq: position.seq, retired: [], filling: false, backlog: [] };
}

/** The positions of the first `count` '|' in `text` (-1 for those missing). */
function separators(text: string, count: number): number[] {
  const positions: number[] = [];
  let from = 0;
  for (let i = 0; i < count; i += 1) {
    const at = from < 0 ? -1 : text.indexOf('|', from);
    positions.push(at);
    from = at < 0 ? -1 : at + 1;
  }
  return positions;
}
