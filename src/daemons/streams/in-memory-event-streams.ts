import { randomBytes } from 'node:crypto';
import type { StreamPosition } from '@arbor/gateway-client/protocol';
import { EventFrame } from './event-frame.js';
import { EventStreams, lastSeqOf, type InboundPosition, type RecentEvents, type Replay, type StreamEvent } from './event-streams.js';

interface Stream {
  epoch: string;
  seq: number;
  /** Events oldest first, with when they were recorded; those before `start` are dropped. */
  events: Array<[recordedAt: number, frame: EventFrame]>;
  start: number;
  touchedAt: number;
  inbound?: InboundPosition;
  /** The daemon connection numbering this stream; another's appends are refused. */
  holder?: string;
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/** Keeps the last `maxEvents` events of each daemon, no older than `ttlMs`, in this process. */
export class InMemoryEventStreams extends EventStreams {
  private readonly streams = new Map<string, Stream>();

  constructor(
    private readonly maxEvents: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  async takeOver(daemonId: string, holder: string, session?: string): Promise<number> {
    const stream = this.stream(daemonId);
    stream.holder = holder;
    return lastSeqOf(stream.inbound, session);
  }

  release(daemonId: string, holder: string): void {
    const stream = this.streams.get(daemonId);
    if (stream?.holder === holder) stream.holder = undefined;
  }

  /** Recorded at once: the sink delivers the event before append returns. */
  append(daemonId: string, holder: string, event: StreamEvent, inbound?: InboundPosition): void {
    const stream = this.stream(daemonId);
    if (stream.holder !== holder) return this.sink?.fenced(daemonId, holder);
    if (inbound) stream.inbound = { session: inbound.session, seq: inbound.seq };
    const frame = EventFrame.of(event.type, daemonId, stream.epoch, ++stream.seq, event.payload, event.tc);
    const at = this.now();
    stream.events.push([at, frame]);
    stream.touchedAt = at;
    if (stream.events.length - stream.start > this.maxEvents) this.dropOldest(stream, 1);
    this.sink?.committed(frame);
    if (inbound) this.sink?.acknowledged(daemonId, holder, inbound.seq);
  }

  async position(daemonId: string): Promise<StreamPosition> {
    const { epoch, seq } = this.stream(daemonId);
    return { epoch, seq };
  }

  async replay(daemonId: string, since: StreamPosition): Promise<Replay> {
    const stream = this.stream(daemonId);
    const position = { epoch: stream.epoch, seq: stream.seq };
    if (since.epoch !== stream.epoch || since.seq > stream.seq) return { kind: 'resync', reason: 'epoch_changed', position };
    this.expire(stream);
    const oldest = stream.events.length > stream.start ? stream.events[stream.start][1].seq : stream.seq + 1;
    if (since.seq + 1 < oldest) return { kind: 'resync', reason: 'history_expired', position };
    const frames: EventFrame[] = [];
    for (let i = stream.start + (since.seq + 1 - oldest); i < stream.events.length; i += 1) frames.push(stream.events[i][1]);
    return { kind: 'events', position, frames };
  }

  async recent(daemonId: string, limit: number): Promise<RecentEvents> {
    const stream = this.stream(daemonId);
    this.expire(stream);
    const frames = stream.events.slice(Math.max(stream.start, stream.events.length - limit)).map(([, frame]) => frame);
    const historyStart = stream.events.length > stream.start ? stream.events[stream.start][1].seq : stream.seq + 1;
    return { position: { epoch: stream.epoch, seq: stream.seq }, historyStart, frames };
  }

  async hasHistory(daemonId: string): Promise<boolean> {
    return this.streams.has(daemonId);
  }

  /**
   * Expires old events; forgets the streams of daemons nobody uses here any more (`inUse` false)
   * once their history has run out, so the epoch of a live daemon never changes by itself.
   */
  prune(inUse: (daemonId: string) => boolean): void {
    const cutoff = this.now() - this.ttlMs;
    for (const [daemonId, stream] of this.streams) {
      if (stream.touchedAt < cutoff && !inUse(daemonId)) this.streams.delete(daemonId);
      else this.expire(stream);
    }
  }

  private expire(stream: Stream): void {
    const cutoff = this.now() - this.ttlMs;
    let drop = 0;
    while (stream.start + drop < stream.events.length && stream.events[stream.start + drop][0] < cutoff) drop += 1;
    if (drop) this.dropOldest(stream, drop);
  }

  /** Amortized O(1): advance the start, compact only once the dropped part outgrows the kept one. */
  private dropOldest(stream: Stream, count: number): void {
    stream.start += count;
    if (stream.start > this.maxEvents) {
      stream.events = stream.events.slice(stream.start);
      stream.start = 0;
    }
  }

  private stream(daemonId: string): Stream {
    let stream = this.streams.get(daemonId);
    if (!stream) {
      stream = { epoch: newEpoch(), seq: 0, events: [], start: 0, touchedAt: this.now() };
      this.streams.set(daemonId, stream);
    }
    return stream;
  }
}
