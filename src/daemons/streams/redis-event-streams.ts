import { Logger, type OnModuleDestroy } from '@nestjs/common';
import type { StreamPosition } from '@arbor/gateway-client/protocol';
import type { RedisConnections } from '../../redis/redis-connections.js';
import { TurnBatches } from '../../redis/turn-batches.js';
import { EventFrame, typeCode } from './event-frame.js';
import { EventStreams, lastSeqOf, type InboundPosition, type RecentEvents, type Replay, type StreamEvent } from './event-streams.js';
import { newEpoch } from './in-memory-event-streams.js';
import { RedisStreamHistory } from './redis-stream-history.js';
import { POSITION_TTL_MS, StreamKeys, formatInbound, parseInbound, streamScripts, type StreamScripts } from './redis-stream-scripts.js';
import { HolderMode, changeMode, confirmedSeq, hasProvisional, newHolder, type Holder, type PendingAppend } from './stream-holder.js';

/** A quiet holder refreshes its keys this often, so they never expire under a connected daemon. */
const HOLDER_REFRESH_MS = 60 * 60 * 1000;

/** A daemon's appends are sent once this many are pending, else at the end of the turn. */
const APPEND_BATCH = 256;

/**
 * Event history in a Redis Stream per daemon (`XADD … MAXLEN ~`, entry id `{seq}-1`), so any
 * instance can replay it and it survives the loss of any instance.
 *
 * The daemon's holder numbers its events itself (appending stays synchronous) and records each
 * turn's events in one script that also checks, atomically, that it still holds the daemon and
 * that the stream is where it left it; only then are they published and delivered. So:
 * - one connection numbers an epoch at a time (a takeover fences the previous holder's batches);
 * - no client ever sees an event the history lacks for good: the next holder never reuses a seq a
 *   client has, unless those clients are told to resync first.
 * When Redis fails a batch, the holder numbers on in the same epoch and delivers here at once
 * (`HolderMode.Unrecorded`); when Redis answers and still names it, it records those events under
 * the same seqs, so no client anywhere resyncs. Only when another connection took the daemon over
 * meanwhile, or Redis came back without the stream, are this instance's watchers told to resync.
 */
export class RedisEventStreams extends EventStreams implements OnModuleDestroy {
  private readonly logger = new Logger(RedisEventStreams.name);
  private readonly holders = new Map<string, Holder>();
  private readonly history: RedisStreamHistory;
  private readonly keys: StreamKeys;
  private readonly scripts: StreamScripts;
  private warned = false;
  /** A daemon's appends of one turn, recorded in one script call. */
  private readonly pending = new TurnBatches<PendingAppend>((daemonId, appends) => this.sendPending(daemonId, appends), APPEND_BATCH);

  constructor(
    private readonly redis: RedisConnections,
    private readonly maxEvents: number,
    private readonly ttlMs: number,
  ) {
    super();
    this.history = new RedisStreamHistory(redis, ttlMs);
    this.keys = new StreamKeys(redis);
    this.scripts = streamScripts(redis);
    redis.onReady(() => {
      this.warned = false;
      for (const [daemonId, holder] of this.holders) void this.recover(daemonId, holder);
    });
  }

  async takeOver(daemonId: string, connection: string, session?: string): Promise<number> {
    // The previous holder's appends go before the takeover (recorded) or after it (refused),
    // never in one batch with the new holder's.
    this.pending.flush(daemonId);
    const previous = this.holders.get(daemonId);
    const provisional = previous !== undefined && hasProvisional(previous);
    // What a previous holder here numbered but Redis lacks is the daemon's to send again (it was
    // never acknowledged): that holder records nothing more.
    if (previous && previous.mode !== HolderMode.Recorded) changeMode(previous, HolderMode.Fenced);
    const recorded = { as: previous?.recordedAs, inbound: previous?.recordedInbound };
    try {
      const [epoch, seq, inbound] = await this.takeOverScript(daemonId, connection, 'connect');
      this.pending.flush(daemonId);
      const holder = newHolder(connection, HolderMode.Recorded, epoch, Number(seq), { as: connection, inbound: parseInbound(inbound) });
      this.holders.set(daemonId, holder);
      // Watchers here saw events numbered where this holder now numbers others: they start over.
      if (provisional) this.sink?.retracted(daemonId, { epoch, seq: Number(seq) });
      return lastSeqOf(holder.recordedInbound, session);
    } catch (error) {
      // Redis is away: number in an epoch of our own so local pairs keep working; record it later.
      this.pending.flush(daemonId);
      this.warn(error);
      this.holders.set(daemonId, newHolder(connection, HolderMode.Local, newEpoch(), 0, recorded));
      return lastSeqOf(recorded.inbound, session);
    }
  }

  append(daemonId: string, connection: string, event: StreamEvent, inbound?: InboundPosition): void {
    const holder = this.holders.get(daemonId);
    if (!holder || holder.connection !== connection || holder.mode === HolderMode.Fenced || holder.released) return this.sink?.fenced(daemonId, connection);
    if (inbound) holder.inbound = inbound;
    const frame = EventFrame.of(event.type, daemonId, holder.epoch, ++holder.numbered, event.payload, event.tc);
    const append = { frame, event, inbound, delivered: false };
    if (holder.mode === HolderMode.Recorded) this.pending.add(daemonId, append);
    else this.keepUnrecorded(daemonId, holder, [append]);
  }

  /** Its batches still pending, in flight or unrecorded are recorded and delivered; prune forgets it after. */
  release(daemonId: string, connection: string): void {
    const holder = this.holders.get(daemonId);
    if (holder?.connection === connection) holder.released = true;
  }

  /** The last turn's events are recorded before Redis is let go. */
  onModuleDestroy(): void {
    this.pending.flushAll();
  }

  async position(daemonId: string): Promise<StreamPosition> {
    const holder = this.holders.get(daemonId);
    if (holder && holder.mode !== HolderMode.Fenced && !holder.released) return { epoch: holder.epoch, seq: holder.committed };
    return this.history.position(daemonId);
  }

  async replay(daemonId: string, since: StreamPosition): Promise<Replay> {
    const position = await this.position(daemonId);
    if (since.epoch !== position.epoch || since.seq > position.seq) return { kind: 'resync', reason: 'epoch_changed', position };
    if (since.seq === position.seq) return { kind: 'events', position, frames: [] };
    const holder = this.holders.get(daemonId);
    // What Redis does not have yet is served from the holder; an epoch of our own was never recorded.
    const unrecorded = holder && holder.mode !== HolderMode.Recorded && holder.epoch === position.epoch ? holder.unrecorded.map((append) => append.frame) : [];
    const firstUnrecorded = unrecorded[0]?.seq ?? position.seq + 1;
    if (holder?.mode === HolderMode.Local && since.seq + 1 < firstUnrecorded) return { kind: 'resync', reason: 'history_expired', position };
    const fromRedis = since.seq + 1 < firstUnrecorded ? await this.range(daemonId, position.epoch, since.seq + 1, firstUnrecorded - 1) : [];
    if (!fromRedis) return { kind: 'resync', reason: 'history_expired', position };
    return { kind: 'events', position, frames: [...fromRedis, ...unrecorded.filter((frame) => frame.seq > since.seq)] };
  }

  range(daemonId: string, epoch: string, from: number, to: number): Promise<EventFrame[] | undefined> {
    return this.history.range(daemonId, epoch, from, to);
  }

  async recent(daemonId: string, limit: number): Promise<RecentEvents> {
    const position = await this.position(daemonId);
    if (this.isProvisional(daemonId)) return { position, historyStart: position.seq + 1, frames: [] };
    return this.history.recent(daemonId, position, limit);
  }

  hasHistory(daemonId: string): Promise<boolean> {
    return this.history.hasHistory(daemonId);
  }

  /**
   * True while this instance numbers the daemon without Redis: events other instances publish for
   * it meanwhile can only be a newer holder's, and are not delivered here before it is settled.
   */
  isProvisional(daemonId: string): boolean {
    const mode = this.holders.get(daemonId)?.mode;
    return mode === HolderMode.Unrecorded || mode === HolderMode.Local;
  }

  prune(inUse: (daemonId: string) => boolean): void {
    const now = Date.now();
    for (const [daemonId, holder] of this.holders) {
      const settled = holder.inFlight.length === 0 && holder.unrecorded.length === 0;
      if (settled && (holder.released || holder.mode === HolderMode.Fenced || !inUse(daemonId))) this.holders.delete(daemonId);
      else if (holder.mode !== HolderMode.Recorded) void this.recover(daemonId, holder);
      else if (now - holder.refreshedAt > HOLDER_REFRESH_MS) this.refreshKeys(daemonId, holder, now);
    }
  }

  // ---- recording -----------------------------------------------------------------------------

  private sendPending(daemonId: string, appends: PendingAppend[]): void {
    const holder = this.holders.get(daemonId);
    // Appends of a holder that has since changed mode were taken over by that change.
    if (holder?.mode === HolderMode.Recorded) this.record(daemonId, holder, appends);
  }

  /** One script call for a batch of the holder's appends; delivered once Redis has them. */
  private record(daemonId: string, holder: Holder, appends: PendingAppend[]): void {
    const inbound = appends.findLast((append) => append.inbound)?.inbound;
    holder.inFlight.push(appends);
    const generation = holder.generation;
    let codes = '';
    for (const append of appends) codes += typeCode(append.frame.type);
    const args: string[] = [
      holder.connection,
      holder.epoch,
      String(appends[0].frame.seq),
      String(POSITION_TTL_MS),
      String(this.ttlMs),
      String(this.maxEvents),
      String(Date.now()),
      this.redis.eventsChannel(daemonId),
      this.redis.instanceId,
      formatInbound(inbound),
      codes,
    ];
    for (const append of appends) args.push(append.frame.text);
    this.scripts.arborAppend(...this.keys.all(daemonId), ...args).then(
      (outcome) => this.recorded(daemonId, holder, generation, outcome),
      (error: unknown) => this.recorded(daemonId, holder, generation, error),
    );
  }

  private recorded(daemonId: string, holder: Holder, generation: number, outcome: unknown): void {
    if (holder.generation !== generation) return;
    if (outcome === 'ok') return this.settle(daemonId, holder, holder.inFlight.shift()!);
    // A newer connection of the daemon on this instance holds it now: whatever failed, this one is
    // done, and the appends pending for the daemon are the newer connection's.
    if (outcome === 'fenced' || this.holders.get(daemonId) !== holder) return this.fence(daemonId, holder);
    this.warn(outcome);
    if (outcome === 'lost') return this.startOver(daemonId, holder, 'an append found the stream moved');
    // Unreachable: number on in the same epoch; what was in flight may or may not be recorded.
    const unsettled = holder.inFlight.flat().concat(this.pending.take(daemonId));
    changeMode(holder, HolderMode.Unrecorded);
    this.logger.warn({ msg: 'event history unavailable: numbering on, to record when Redis answers', daemonId, epoch: holder.epoch });
    this.keepUnrecorded(daemonId, holder, unsettled);
  }

  /** Recorded: delivered here (unless they already were), and acknowledged to the daemon. */
  private settle(daemonId: string, holder: Holder, appends: readonly PendingAppend[]): void {
    let inbound: InboundPosition | undefined;
    for (const append of appends) {
      // Never lower: part of a run delivered before Redis had it may be settled after the rest.
      holder.committed = Math.max(holder.committed, append.frame.seq);
      if (!append.delivered) {
        append.delivered = true;
        this.sink?.committed(append.frame);
      }
      if (append.inbound) inbound = append.inbound;
    }
    if (!inbound) return;
    holder.recordedInbound = inbound;
    this.sink?.acknowledged(daemonId, holder.connection, inbound.seq);
  }

  /**
   * Delivered here now, recorded later. Past the history's size they could never all be recorded:
   * an unrecorded run starts over in an epoch of our own, and a local one lets its oldest go (they
   * are acknowledged, so the daemon stops keeping them).
   */
  private keepUnrecorded(daemonId: string, holder: Holder, appends: readonly PendingAppend[]): void {
    for (const append of appends) {
      holder.committed = Math.max(holder.committed, append.frame.seq);
      if (append.delivered) continue;
      append.delivered = true;
      this.sink?.committed(append.frame);
    }
    holder.unrecorded.push(...appends);
    const excess = holder.unrecorded.length - this.maxEvents;
    if (excess <= 0) return;
    if (holder.mode === HolderMode.Unrecorded) return this.startOver(daemonId, holder, 'more unrecorded events than the history keeps');
    const dropped = holder.unrecorded.splice(0, excess);
    const inbound = dropped.findLast((append) => append.inbound)?.inbound;
    if (inbound) this.sink?.acknowledged(daemonId, holder.connection, inbound.seq);
  }

  /**
   * Redis no longer has where this holder left off (or what it numbered can no longer be recorded
   * under the same seqs): what it had not recorded is numbered again in an epoch of its own (its
   * watchers here get only what they lacked, after a resync at the epoch change), and recorded in a
   * new epoch when Redis answers, for everyone else (who resync at that epoch change).
   */
  private startOver(daemonId: string, holder: Holder, reason: string): void {
    const unsettled = [...holder.unrecorded, ...holder.inFlight.flat(), ...this.pending.take(daemonId)];
    changeMode(holder, HolderMode.Local);
    holder.unrecorded = [];
    this.renumber(daemonId, holder, newEpoch(), 0, unsettled);
    this.logger.warn({ msg: 'event history lost where this holder left it: numbering in an epoch of this instance', daemonId, epoch: holder.epoch, reason });
    this.keepUnrecorded(daemonId, holder, holder.unrecorded.splice(0));
    if (this.redis.commandsReady) void this.recover(daemonId, holder);
  }

  /**
   * Gives `appends` new seqs in `epoch` after `seq`; they become the holder's unrecorded run. Those
   * this instance's watchers already have are not delivered to them again: they learn of the new
   * epoch (and resync) at its first event they do not have.
   */
  private renumber(daemonId: string, holder: Holder, epoch: string, seq: number, appends: readonly PendingAppend[]): void {
    holder.epoch = epoch;
    holder.numbered = holder.committed = seq;
    holder.unrecorded = appends.map(({ event, inbound, delivered }) => ({
      frame: EventFrame.of(event.type, daemonId, epoch, ++holder.numbered, event.payload, event.tc),
      event,
      inbound,
      delivered,
    }));
  }

  // ---- recovery ------------------------------------------------------------------------------

  /**
   * Redis answers again: a holder that numbered without it records what it numbered. Only the
   * command connection is needed: the subscriber may come back later, and waiting for it would
   * leave the run unrecorded until the next sweep, growing past the history through further outages.
   */
  private async recover(daemonId: string, holder: Holder): Promise<void> {
    if (holder.recovering || this.holders.get(daemonId) !== holder || !this.redis.commandsReady) return;
    if (holder.mode !== HolderMode.Unrecorded && holder.mode !== HolderMode.Local) return;
    holder.recovering = true;
    try {
      if (holder.mode === HolderMode.Unrecorded) await this.resume(daemonId, holder);
      else if (holder.released) await this.retire(daemonId, holder);
      else await this.restart(daemonId, holder);
    } catch (error) {
      this.warn(error);
    } finally {
      holder.recovering = false;
    }
  }

  /** Records the unrecorded run under the seqs it was given, if Redis still names this holder. */
  private async resume(daemonId: string, holder: Holder): Promise<void> {
    const generation = holder.generation;
    const reply = await this.scripts.arborResume(
      this.keys.holder(daemonId),
      this.keys.epoch(daemonId),
      this.keys.seq(daemonId),
      holder.recordedAs ?? holder.connection,
      holder.connection,
      holder.epoch,
      String(confirmedSeq(holder)),
      String(holder.numbered),
      String(POSITION_TTL_MS),
    );
    if (holder.generation !== generation || this.holders.get(daemonId) !== holder) return;
    if (reply[0] === 'fenced') return this.fence(daemonId, holder);
    if (reply[0] === 'lost') return this.startOver(daemonId, holder, 'Redis came back without the position');
    const stored = Number(reply[1]);
    const run = holder.unrecorded.splice(0);
    changeMode(holder, HolderMode.Recorded);
    holder.recordedAs = holder.connection;
    // A batch whose answer was lost may have been recorded (and published) after all.
    this.settle(
      daemonId,
      holder,
      run.filter((append) => append.frame.seq <= stored),
    );
    const rest = run.filter((append) => append.frame.seq > stored);
    if (rest.length) this.record(daemonId, holder, rest);
    this.logger.log({ msg: 'event history recorded again in the same epoch', daemonId, epoch: holder.epoch, recorded: rest.length });
  }

  /** The daemon's live connection, whose numbering Redis never had, takes over in a new epoch. */
  private async restart(daemonId: string, holder: Holder): Promise<void> {
    const generation = holder.generation;
    const [epoch, seq] = await this.takeOverScript(daemonId, holder.connection, 'restart');
    if (holder.generation !== generation || this.holders.get(daemonId) !== holder) return;
    const run = holder.unrecorded.splice(0);
    changeMode(holder, HolderMode.Recorded);
    holder.recordedAs = holder.connection;
    this.renumber(daemonId, holder, epoch, Number(seq), run);
    const renumbered = holder.unrecorded.splice(0);
    if (renumbered.length) this.record(daemonId, holder, renumbered);
    this.logger.warn({ msg: 'event history recorded again: new epoch', daemonId, epoch });
  }

  /**
   * A closed connection's own epoch is never recorded (the daemon sends what it was not
   * acknowledged again, wherever it connects): the watchers here start over from the stream.
   */
  private async retire(daemonId: string, holder: Holder): Promise<void> {
    const position = await this.history.position(daemonId);
    // A newer connection here took over meanwhile, and retracted what this one delivered.
    if (this.holders.get(daemonId) !== holder) return;
    this.holders.delete(daemonId);
    if (holder.unrecorded.length) this.sink?.retracted(daemonId, position);
  }

  /**
   * Another connection holds the daemon: this one stops. What it delivered here unrecorded is
   * retracted: its watchers start over from the last seq it knows recorded, before the new
   * holder's events (which may reuse the seqs after it) reach them.
   */
  private fence(daemonId: string, holder: Holder): void {
    const current = this.holders.get(daemonId) === holder;
    const retracted = current && hasProvisional(holder) ? { epoch: holder.epoch, seq: confirmedSeq(holder) } : undefined;
    this.logger.log({ msg: 'daemon taken over by another connection; its events here are dropped', daemonId, connectionId: holder.connection });
    changeMode(holder, HolderMode.Fenced);
    holder.unrecorded = [];
    if (current) this.pending.take(daemonId);
    this.sink?.fenced(daemonId, holder.connection);
    if (retracted) this.sink?.retracted(daemonId, retracted);
  }

  private takeOverScript(daemonId: string, connection: string, mode: 'connect' | 'restart') {
    return this.scripts.arborTakeOver(...this.keys.all(daemonId), connection, newEpoch(), String(POSITION_TTL_MS), mode);
  }

  private refreshKeys(daemonId: string, holder: Holder, now: number): void {
    holder.refreshedAt = now;
    const ttl = String(POSITION_TTL_MS);
    this.redis.commands
      .multi()
      .pexpire(this.keys.holder(daemonId), ttl)
      .pexpire(this.keys.epoch(daemonId), ttl)
      .pexpire(this.keys.seq(daemonId), ttl)
      .exec()
      .catch((error: unknown) => this.warn(error));
  }

  private warn(error: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.logger.warn({ msg: 'event history not recorded while Redis is unavailable', error: error instanceof Error ? error.message : String(error) });
  }
}
