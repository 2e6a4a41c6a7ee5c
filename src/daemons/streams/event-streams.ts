import type { StreamPosition } from '@arbor/gateway-client/protocol';

/** Events after a position, or why they cannot all be given. */
export type Replay =
  | { kind: 'events'; position: StreamPosition; frames: string[] }
  | { kind: 'resync'; reason: 'epoch_changed' | 'history_expired'; position: StreamPosition };

/**
 * Each daemon's event stream: a per-daemon, strictly increasing `seq` within an `epoch` (a new
 * epoch whenever the history is lost), and the last events kept for resuming clients.
 */
/** Where a daemon session's own numbering stands: the last event of it the gateway recorded. */
export interface InboundPosition {
  session: string;
  seq: number;
}

export abstract class EventStreams {
  /** Loads the daemon's position before this instance starts numbering its events (it now holds the daemon). */
  async prepare(_daemonId: string): Promise<void> {}

  /**
   * Gives the daemon's next event its position and records it. Synchronous, so events are
   * numbered in the order the daemon sent them; `build` serializes the frame once.
   */
  abstract append(daemonId: string, build: (epoch: string, seq: number) => string, inbound?: InboundPosition): string;
  /**
   * The last event seq recorded from this daemon session (0 for another or a new session).
   * Recorded with the event itself, so it survives exactly as the event does.
   */
  abstract lastInbound(daemonId: string, session: string): Promise<number>;
  /** Where the daemon's stream is now. */
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
