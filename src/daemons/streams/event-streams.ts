import type { StreamPosition, TraceContext } from '@arbor/gateway-client/protocol';
import type { EventFrame, StreamEventType } from './event-frame.js';

/** Events after a position, or why they cannot all be given. */
export type Replay =
  | { kind: 'events'; position: StreamPosition; frames: EventFrame[] }
  | { kind: 'resync'; reason: 'epoch_changed' | 'history_expired'; position: StreamPosition };

/** A daemon's newest retained events, for inspection (not for resuming: see `replay`). */
export interface RecentEvents {
  position: StreamPosition;
  /** The oldest seq still retained; position.seq + 1 when nothing is. */
  historyStart: number;
  frames: EventFrame[];
}

/** Where a daemon session's own numbering stands: the last event of it the gateway recorded. */
export interface InboundPosition {
  session: string;
  seq: number;
}

/** Where daemon `session` resumes its own numbering: after its last recorded event, or from 0. */
export function lastSeqOf(inbound: InboundPosition | undefined, session: string | undefined): number {
  return session !== undefined && inbound?.session === session ? inbound.seq : 0;
}

/** An event to append: its type and payload; the stream gives it its place and text. */
export interface StreamEvent {
  type: StreamEventType;
  payload: unknown;
  /** A task status's trace context, relayed in the frame's envelope. */
  tc?: TraceContext;
}

/**
 * Where recorded events go. An event reaches clients only once it is recorded, so no client ever
 * holds an event that the history (and so the next holder's numbering) does not know.
 */
export interface StreamSink {
  /** An event is recorded: deliver it to this instance's watchers, in this order. */
  committed(frame: EventFrame): void;
  /** The holder's events up to the daemon's own `inboundSeq` are recorded: it may be acknowledged. */
  acknowledged(daemonId: string, holder: string, inboundSeq: number): void;
  /** `holder` no longer holds the daemon (a newer connection took it over): it must stop. */
  fenced(daemonId: string, holder: string): void;
  /**
   * Events delivered here while the history was unreachable were never recorded, and the stream
   * goes on from `position` without them: this instance's watchers start over from there.
   */
  retracted(daemonId: string, position: StreamPosition): void;
}

/**
 * Each daemon's event stream: a per-daemon, strictly increasing `seq` within an `epoch` (a new
 * epoch whenever the history is lost), and the last events kept for resuming clients.
 *
 * One holder numbers a daemon's events at a time: the daemon connection that last took the stream
 * over (`takeOver`). Appends name their holder; a stale holder's are refused and it is told so
 * (`StreamSink.fenced`), so two connections never number events of one epoch.
 */
export abstract class EventStreams {
  protected sink: StreamSink | undefined;

  /** Set once by the service that delivers recorded events. */
  connect(sink: StreamSink): void {
    this.sink = sink;
  }

  /**
   * Makes `holder` the daemon's only numbering connection, from the recorded position on, and
   * returns the last event seq recorded from daemon `session` (0 for another or a new session).
   */
  abstract takeOver(daemonId: string, holder: string, session?: string): Promise<number>;
  /**
   * Gives the daemon's next event its position and records it; the sink delivers it once recorded.
   * Synchronous, so events are numbered in the order the daemon sent them; the frame is
   * serialized once, here.
   */
  abstract append(daemonId: string, holder: string, event: StreamEvent, inbound?: InboundPosition): void;
  /**
   * `holder`'s daemon connection has closed: it numbers nothing more, and this instance stops
   * answering for the stream's position from it (what it sent is still recorded and delivered).
   */
  abstract release(daemonId: string, holder: string): void;
  /** Where the daemon's stream is now: the last event recorded and delivered. */
  abstract position(daemonId: string): Promise<StreamPosition>;
  /** The events after `since`, in order, or `resync` when they are not all retained. */
  abstract replay(daemonId: string, since: StreamPosition): Promise<Replay>;
  /**
   * The last `limit` events still retained (whatever has aged out or been trimmed before them),
   * oldest first, with the seq history now begins at (position.seq + 1 when none is retained).
   */
  abstract recent(daemonId: string, limit: number): Promise<RecentEvents>;
  /** Whether the daemon's stream still exists (its epoch is remembered), here or shared. */
  abstract hasHistory(daemonId: string): Promise<boolean>;
  /** Periodic upkeep (the heartbeat sweep calls it); `inUse` tells which daemons are still relevant here. */
  abstract prune(inUse: (daemonId: string) => boolean): void;
}
