import type { EventFrame } from './event-frame.js';
import type { InboundPosition, StreamEvent } from './event-streams.js';

/** An event numbered by its holder, on its way to Redis. */
export interface PendingAppend {
  frame: EventFrame;
  /** Kept to number the event again in another epoch. */
  event: StreamEvent;
  inbound: InboundPosition | undefined;
  /** Already delivered to this instance's watchers (numbered while Redis was away). */
  delivered: boolean;
}

export enum HolderMode {
  /** Events are recorded (and published) before they are delivered. */
  Recorded = 'recorded',
  /**
   * Redis is away: events go on being numbered in the recorded epoch, are delivered here at once,
   * and are kept (not acknowledged to the daemon) to be recorded under the same seqs when Redis
   * answers and still names this holder.
   */
  Unrecorded = 'unrecorded',
  /**
   * No recorded position to continue from (the daemon connected while Redis was away, or Redis
   * lost the stream): an epoch of this instance's own, delivered here at once, kept (not
   * acknowledged) and recorded in a new epoch when Redis answers.
   */
  Local = 'local',
  /** Another connection took the daemon over: this one's events are dropped. */
  Fenced = 'fenced',
}

/** This instance's numbering of one daemon, for the connection that holds it. */
export interface Holder {
  readonly connection: string;
  /**
   * The connection Redis names as holder on this one's behalf: itself once its takeover was
   * recorded, else the connection it succeeded on this instance (undefined for none).
   */
  recordedAs: string | undefined;
  mode: HolderMode;
  epoch: string;
  /** Last seq given out. */
  numbered: number;
  /** Last seq delivered here. */
  committed: number;
  /** Last daemon-session position accepted with an event. */
  inbound: InboundPosition | undefined;
  /** Last daemon-session position recorded (what a reconnecting daemon may be told it need not resend). */
  recordedInbound: InboundPosition | undefined;
  /** Appends sent and not yet answered, oldest first; a mode change discards their answers. */
  inFlight: PendingAppend[][];
  /** Numbered and delivered here while Redis was away; recorded (and acknowledged) when it answers. */
  unrecorded: PendingAppend[];
  /** Bumped on every mode change: answers to calls of an earlier generation are ignored. */
  generation: number;
  recovering: boolean;
  refreshedAt: number;
  /** The daemon's connection closed: it appends nothing more. */
  released: boolean;
}

export function newHolder(
  connection: string,
  mode: HolderMode,
  epoch: string,
  seq: number,
  recorded: { as: string | undefined; inbound: InboundPosition | undefined },
): Holder {
  return {
    connection,
    recordedAs: recorded.as,
    mode,
    epoch,
    numbered: seq,
    committed: seq,
    inbound: recorded.inbound,
    recordedInbound: recorded.inbound,
    inFlight: [],
    unrecorded: [],
    generation: 0,
    recovering: false,
    refreshedAt: Date.now(),
    released: false,
  };
}

/** Whether watchers here were given events of the holder that Redis does not have. */
export function hasProvisional(holder: Holder): boolean {
  return holder.unrecorded.length > 0 || holder.inFlight.some((batch) => batch.some((append) => append.delivered));
}

/** The last seq this holder knows recorded: the one before the first it delivered unrecorded. */
export function confirmedSeq(holder: Holder): number {
  const first = holder.inFlight.flat().find((append) => append.delivered) ?? holder.unrecorded[0];
  return (first?.frame.seq ?? holder.numbered + 1) - 1;
}

export function changeMode(holder: Holder, mode: HolderMode): void {
  holder.mode = mode;
  holder.generation += 1;
  holder.inFlight = [];
}
