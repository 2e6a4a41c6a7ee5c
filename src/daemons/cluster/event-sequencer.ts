import { ServerMessageType, type Frame, type ResyncRequiredPayload, type StreamPosition } from '@arbor/gateway-client/protocol';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import type { EventFrame } from '../streams/event-frame.js';

/** Epochs a daemon left behind, remembered so their late arrivals are recognised and dropped. */
const RETIRED_EPOCHS = 4;

/** The shared history, read to fill what pub/sub did not bring. */
export interface EventHistory {
  range(daemonId: string, epoch: string, from: number, to: number): Promise<EventFrame[] | undefined>;
  position(daemonId: string): Promise<StreamPosition>;
  /** Whether this instance numbers the daemon without the history (other instances' events for it wait). */
  isProvisional(daemonId: string): boolean;
}

/** Where sequenced events go: this instance's watchers of the daemon. */
export interface SequencedSink {
  isWatched(daemonId: string): boolean;
  isHeldHere(daemonId: string): boolean;
  deliver(daemonId: string, frame: Frame | EventFrame): void;
  warn(operation: string, error: unknown): void;
}

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
 * Delivers each watched daemon's events in stream order, whichever instance recorded them: our own
 * recorded events and other instances' arrive by different connections and go through one
 * sequence, so nothing reaches a watcher twice or out of order. Repeats are dropped; a gap in
 * `seq` is filled from the history before anything after it; a new epoch is announced with
 * `resync-required` before its first event; a hole the history no longer has is announced too.
 */
export class EventSequencer {
  private readonly delivered = new Map<string, Delivered>();

  constructor(
    private readonly sink: SequencedSink,
    private readonly history?: EventHistory,
    private readonly metrics?: GatewayMetrics,
  ) {}

  /** A watcher was admitted at `position`: what is delivered next continues from it. */
  admitted(daemonId: string, position: StreamPosition): void {
    if (this.sink.isWatched(daemonId) && !this.delivered.has(daemonId)) this.delivered.set(daemonId, startedAt(position));
  }

  /**
   * What was delivered past `position` was never recorded: the watchers are told to resync there,
   * and the sequence goes on from it (caught up from the history when the daemon is held elsewhere).
   */
  retract(daemonId: string, position: StreamPosition): void {
    const previous = this.delivered.get(daemonId);
    if (!previous) return;
    const state = startedAt(position);
    // The retracted events' epoch is not left behind: only what was delivered in it past `position`.
    state.retired = previous.retired.filter((epoch) => epoch !== position.epoch);
    this.delivered.set(daemonId, state);
    this.tellResync(daemonId, 'history_expired', position);
    if (this.history && !this.sink.isHeldHere(daemonId)) void this.catchUpDaemon(daemonId, state);
  }

  /** Nobody here watches the daemon any more. */
  forget(daemonId: string): void {
    this.delivered.delete(daemonId);
  }

  sequence(frame: EventFrame): void {
    const { daemonId, epoch, seq } = frame;
    if (!this.sink.isWatched(daemonId)) return;
    const state = this.delivered.get(daemonId);
    if (!state) {
      this.delivered.set(daemonId, startedAt(frame));
      return this.sink.deliver(daemonId, frame);
    }
    if (state.filling) return void state.backlog.push(frame);
    if (epoch !== state.epoch) {
      // A late event of an epoch already left behind is history that was lost: never delivered.
      if (state.retired.includes(epoch)) return;
      this.retire(state, epoch, seq);
      this.tellResync(daemonId, 'epoch_changed', { epoch, seq: seq - 1 });
      return this.sink.deliver(daemonId, frame);
    }
    if (seq <= state.seq) return;
    if (seq === state.seq + 1 || !this.history) {
      state.seq = seq;
      return this.sink.deliver(daemonId, frame);
    }
    void this.fill(state, frame);
  }

  /**
   * After the subscriptions were re-established: pub/sub may have dropped events of daemons held
   * elsewhere meanwhile. The stream has them; deliver them now, not at the daemon's next event.
   */
  catchUp(): void {
    if (!this.history) return;
    for (const [daemonId, state] of this.delivered) {
      // A daemon numbered here without the history is settled by its holder's recovery instead.
      if (!this.sink.isHeldHere(daemonId) && !this.history.isProvisional(daemonId) && !state.filling) void this.catchUpDaemon(daemonId, state);
    }
  }

  private async fill(state: Delivered, frame: EventFrame): Promise<void> {
    const { daemonId, epoch, seq } = frame;
    state.filling = true;
    const from = state.seq + 1;
    const missing = await this.history!.range(daemonId, epoch, from, seq - 1).catch(() => undefined);
    if (this.delivered.get(daemonId) !== state) return;
    this.metrics?.gapFills.labels(missing ? 'filled' : 'history_expired').inc();
    if (missing) {
      for (const filled of missing) this.sink.deliver(daemonId, filled);
    } else {
      // Never a silent hole: the watchers learn that events are missing and where the stream goes on.
      this.sink.warn('fill gap', new Error(`events ${from}-${seq - 1} of ${daemonId} are not in the history`));
      this.tellResync(daemonId, 'history_expired', { epoch, seq: seq - 1 });
    }
    state.seq = seq;
    this.sink.deliver(daemonId, frame);
    this.drain(daemonId, state);
  }

  private async catchUpDaemon(daemonId: string, state: Delivered): Promise<void> {
    state.filling = true;
    try {
      const head = await this.history!.position(daemonId);
      if (this.delivered.get(daemonId) !== state) return;
      if (head.epoch !== state.epoch) {
        // The stream went on in an epoch we never saw begin (a failover lost its start, or it was renumbered).
        if (state.retired.includes(head.epoch)) return;
        this.retire(state, head.epoch, head.seq);
        this.metrics?.gapFills.labels('epoch_changed').inc();
        this.tellResync(daemonId, 'epoch_changed', head);
      } else if (head.seq > state.seq) {
        const missing = await this.history!.range(daemonId, state.epoch, state.seq + 1, head.seq);
        if (this.delivered.get(daemonId) !== state) return;
        this.metrics?.gapFills.labels(missing ? 'filled' : 'history_expired').inc();
        if (missing) for (const frame of missing) this.sink.deliver(daemonId, frame);
        else this.tellResync(daemonId, 'history_expired', head);
        state.seq = head.seq;
      }
    } catch (error) {
      // Redis went away again: its return brings another resubscribe, and another catch-up.
      this.sink.warn('catch up', error);
    } finally {
      this.drain(daemonId, state);
    }
  }

  /** Filling is over: what arrived meanwhile goes through the sequence. */
  private drain(daemonId: string, state: Delivered): void {
    if (this.delivered.get(daemonId) !== state) return;
    state.filling = false;
    for (const next of state.backlog.splice(0)) this.sequence(next);
  }

  private retire(state: Delivered, epoch: string, seq: number): void {
    state.retired = [...state.retired.slice(1 - RETIRED_EPOCHS), state.epoch];
    state.epoch = epoch;
    state.seq = seq;
  }

  private tellResync(daemonId: string, reason: ResyncRequiredPayload['reason'], stream: StreamPosition): void {
    this.metrics?.liveResyncs.labels(reason).inc();
    this.sink.deliver(daemonId, { type: ServerMessageType.ResyncRequired, daemonId, payload: { reason, stream } satisfies ResyncRequiredPayload });
  }
}

/** A daemon's sequence here, starting at `position` (delivered up to it). */
function startedAt(position: StreamPosition): Delivered {
  return { epoch: position.epoch, seq: position.seq, retired: [], filling: false, backlog: [] };
}
