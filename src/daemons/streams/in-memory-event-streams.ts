import { randomBytes } from 'node:crypto';
import type { StreamPosition } from '@arbor/gateway-client/protocol';
import { EventStreams, type Replay } from './event-streams.js';

interface Stream {
  epoch: string;
  seq: number;
  /** Retained events, oldest first: [seq, recordedAt, frame]. */
  events: Array<[number, number, string]>;
  touchedAt: number;
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

  append(daemonId: string, build: (epoch: string, seq: number) => string): string {
    const stream = this.stream(daemonId);
    const seq = ++stream.seq;
    const frame = build(stream.epoch, seq);
    const at = this.now();
    stream.events.push([seq, at, frame]);
    stream.touchedAt = at;
    if (stream.events.length > this.maxEvents) stream.events.splice(0, stream.events.length - this.maxEvents);
    return frame;
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
    const oldest = stream.events.length ? stream.events[0][0] : stream.seq + 1;
    if (since.seq + 1 < oldest) return { kind: 'resync', reason: 'history_expired', position };
    return { kind: 'events', position, frames: stream.events.filter(([seq]) => seq > since.seq).map(([, , frame]) => frame) };
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
    while (drop < stream.events.length && stream.events[drop][1] < cutoff) drop += 1;
    if (drop) stream.events.splice(0, drop);
  }

  private stream(daemonId: string): Stream {
    let stream = this.streams.get(daemonId);
    if (!stream) {
      stream = { epoch: newEpoch(), seq: 0, events: [], touchedAt: this.now() };
      this.streams.set(daemonId, stream);
    }
    return stream;
  }
}
