import type { StreamPosition } from '@arbor/gateway-client/protocol';

/** Events after a position, or why they cannot all be given. */
export type Replay =
  | { kind: 'events'; position: StreamPosition; frames: string[] }
  | { kind: 'resync'; reason: 'epoch_changed' | 'history_expired'; position: StreamPosition };

/** Where a daemon session's own numbering stands: the last event of it the gateway recorded. */
export interface InboundPosition {
  session: string;
  seq: number;
}

/** Builds an event's frame once its place in the stream is known. */
export type FrameBuilder = (epoch: string, seq: number) => string;

/**
 * Where recorded events go. An event reaches clients only once it is recorded, so no client ever
 * holds an event that the history (and so the next holder's numbering) does not know.
 */
export interface StreamSink {
  /** An event is recorded: deliver it to this instance's watchers, in this order. */
  committed(daemonId: string, frame: string, epoch: string, seq: number): void;
  /** The holder's events up to the daemon's own `inboundSeq` are recorded: it may be acknowledged. */
  acknowledged(daemonId: string, holder: string, inboundSeq: number): void;
  /** `holder` no longer holds the daemon (a newer connection took it over): it must stop. */
  fenced(daemonId: string, holder: string): void;
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
   * Synchronous, so events are numbered in the order the daemon sent them; `build` serializes the
   * frame once.
   */
  abstract append(daemonId: string, holder: string, build: FrameBuilder, inbound?: InboundPosition): void;
  /**
   * `holder`'s daemon connection has closed: it numbers nothing more, and this instance stops
   * answering for the stream's position from it (what it sent is still recorded and delivered).
   */
  abstract release(daemonId: string, holder: string): void;
  /** Where the daemon's stream is now: the last event recorded and delivered. */
  abstract position(daemonId: string): Promise<StreamPosition>;
  /** The events after `since`, in order, or `resync` when they are not all retained. */
  abstract replay(daemonId: string, since: StreamPosition): Promise<Replay>;
  /** Periodic upkeep (the heartbeat sweep calls it); `inUse` tells which daemons are still relevant here. */
  abstract prune(inUse: (daemonId: string) => boolean): void;
}

/** `"epoch":"…"` as written by append's builders. */
export function epochOf(frame: string): string | undefined {
  const index = frame.indexOf('"epoch":"');
  if (index < 0) return undefined;
  return frame.slice(index + 9, frame.indexOf('"', index + 9));
}

/** `"seq":N` as written by append's builders: cheap to find without parsing the frame. */
export function seqOf(frame: string): number | undefined {
  const index = frame.indexOf('"seq":');
  if (index < 0) return undefined;
  return Number.parseInt(frame.slice(index + 6, index + 22), 10);
}
