import type { StreamPosition } from '@arbor/gateway-client/protocol';
import { unavailable } from '../../errors/domain.error.js';
import type { RedisConnections } from '../../redis/redis-connections.js';
import { EventFrame } from './event-frame.js';
import type { RecentEvents } from './event-streams.js';
import { newEpoch } from './in-memory-event-streams.js';
import { POSITION, POSITION_TTL_MS, StreamKeys, streamEntry } from './redis-stream-scripts.js';

/**
 * Reads a daemon's recorded stream back from Redis: its position, a range for a resume or a gap,
 * its newest events for inspection. Every Redis failure is `unavailable`.
 */
export class RedisStreamHistory {
  private readonly keys: StreamKeys;

  constructor(
    private readonly redis: RedisConnections,
    private readonly ttlMs: number,
  ) {
    this.keys = new StreamKeys(redis);
  }

  /** The recorded position, creating the daemon's epoch (seq 0) if it has none. */
  async position(daemonId: string): Promise<StreamPosition> {
    try {
      const [epoch, seq] = (await this.redis.commands.eval(
        POSITION,
        2,
        this.keys.epoch(daemonId),
        this.keys.seq(daemonId),
        newEpoch(),
        String(POSITION_TTL_MS),
      )) as [string, string];
      return { epoch, seq: Number(seq) };
    } catch {
      throw unavailable();
    }
  }

  /**
   * Frames `from`…`to`, or undefined unless every one of them is there and younger than the
   * history's age limit (a hole is never papered over).
   */
  async range(daemonId: string, epoch: string, from: number, to: number): Promise<EventFrame[] | undefined> {
    let entries: Array<[string, string[]]>;
    try {
      entries = await this.redis.commands.xrange(this.keys.stream(daemonId), `${from}-0`, `${to}-1`);
    } catch {
      throw unavailable();
    }
    const oldestAllowed = Date.now() - this.ttlMs;
    const frames: EventFrame[] = [];
    for (const [id, fields] of entries) {
      const seq = Number.parseInt(id, 10);
      if (seq !== from + frames.length) return undefined;
      const entry = streamEntry(fields);
      if (!entry || entry.at < oldestAllowed) return undefined;
      frames.push(new EventFrame(entry.type, daemonId, epoch, seq, entry.text));
    }
    return frames.length === to - from + 1 ? frames : undefined;
  }

  /**
   * The last `limit` events up to `position`. Walks back while entries are contiguous and young
   * enough. Retained entries are a suffix of the epoch (trimming and ageing take the oldest), so
   * where the walk stops inside the window is where history begins; past the window it is found by
   * bisection.
   */
  async recent(daemonId: string, position: StreamPosition, limit: number): Promise<RecentEvents> {
    const none = { position, historyStart: position.seq + 1, frames: [] };
    if (position.seq === 0) return none;
    const oldestAllowed = Date.now() - this.ttlMs;
    const key = this.keys.stream(daemonId);
    let entries: Array<[string, string[]]>;
    try {
      entries = await this.redis.commands.xrevrange(key, `${position.seq}-1`, '-', 'COUNT', limit);
    } catch {
      throw unavailable();
    }
    const frames: EventFrame[] = [];
    for (const [id, fields] of entries) {
      const seq = Number.parseInt(id, 10);
      const entry = streamEntry(fields);
      if (seq !== position.seq - frames.length || !entry || entry.at < oldestAllowed) break;
      frames.push(new EventFrame(entry.type, daemonId, position.epoch, seq, entry.text));
    }
    frames.reverse();
    if (frames.length === 0) return none;
    const oldest = frames[0].seq;
    const cutInWindow = frames.length < limit && frames.length < entries.length;
    const historyStart = cutInWindow || oldest === 1 ? oldest : await this.firstRetained(key, oldest, oldestAllowed);
    return { position, historyStart, frames };
  }

  async hasHistory(daemonId: string): Promise<boolean> {
    try {
      return (await this.redis.commands.exists(this.keys.epoch(daemonId))) === 1;
    } catch {
      throw unavailable();
    }
  }

  /** The oldest seq before `known` (young, retained) that is still retained and young. */
  private async firstRetained(key: string, known: number, oldestAllowed: number): Promise<number> {
    const retained = async (seq: number) => {
      const [entry] = await this.redis.commands.xrange(key, `${seq}-1`, `${seq}-1`).catch(() => {
        throw unavailable();
      });
      const fields = entry ? streamEntry(entry[1]) : undefined;
      return fields !== undefined && fields.at >= oldestAllowed;
    };
    let [low, high] = [0, known];
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (await retained(middle)) high = middle;
      else low = middle;
    }
    return high;
  }
}
