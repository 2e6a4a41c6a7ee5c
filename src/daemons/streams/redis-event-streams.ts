import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { ErrorCode, type StreamPosition } from '@arbor/gateway-client/protocol';
import { GatewayException } from '../../gateway/gateway.exception.js';
import type { RedisConnections } from '../../redis/redis-connections.js';
import { TurnBatches } from '../../redis/turn-batches.js';
import { EventStreams, type InboundPosition, type Replay } from './event-streams.js';
import { newEpoch } from './in-memory-event-streams.js';

/** How long a daemon's epoch and last seq outlive its last event: a quiet daemon keeps its epoch. */
const POSITION_TTL_MS = 24 * 60 * 60 * 1000;

/** A daemon's appends are sent once this many are pending, else at the end of the turn. */
const APPEND_BATCH = 256;

interface PendingAppend {
  epoch: string;
  seq: number;
  at: number;
  frame: string;
  /** The daemon's own number for it, when it numbers its events. */
  inbound: InboundPosition | undefined;
}

/** The daemon's position, creating its epoch (seq 0) if the stream has none — once, for every instance. */
const POSITION = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
  epoch = redis.call('GET', KEYS[1])
  redis.call('SET', KEYS[2], '0', 'PX', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {epoch, redis.call('GET', KEYS[2]) or '0'}`;

/**
 * Event history in a Redis Stream per daemon (`XADD … MAXLEN ~`, entry id `{seq}-1`), so any
 * instance can replay it and it survives the loss of any instance. The daemon's holder numbers
 * its events itself (appending stays synchronous) from the position it loaded when the daemon
 * connected; the epoch changes whenever Redis lost the stream.
 */
export class RedisEventStreams extends EventStreams implements OnModuleDestroy {
  private readonly logger = new Logger(RedisEventStreams.name);
  /** Positions of the streams this instance appends to. */
  private readonly local = new Map<string, StreamPosition>();
  private warned = false;
  /** A daemon's appends of one turn, recorded in one transaction. */
  private readonly pending = new TurnBatches<PendingAppend>((daemonId, appends) => this.record(daemonId, appends), APPEND_BATCH);

  constructor(
    private readonly redis: RedisConnections,
    private readonly maxEvents: number,
    private readonly ttlMs: number,
  ) {
    super();
    // Redis may come back empty: then the history is gone and the epochs must change.
    redis.onReady(() => void this.verifyEpochs());
  }

  override async prepare(daemonId: string): Promise<void> {
    try {
      this.local.set(daemonId, await this.load(daemonId));
    } catch (error) {
      // Keep numbering through the outage; verifyEpochs decides when Redis returns.
      this.logger.warn({ msg: 'could not load the stream position', daemonId, error: error instanceof Error ? error.message : String(error) });
      if (!this.local.has(daemonId)) this.local.set(daemonId, { epoch: newEpoch(), seq: 0 });
    }
  }

  append(daemonId: string, build: (epoch: string, seq: number) => string, inbound?: InboundPosition): string {
    let position = this.local.get(daemonId);
    if (!position) {
      this.logger.warn({ msg: 'appending to a stream this instance did not prepare', daemonId });
      this.local.set(daemonId, (position = { epoch: newEpoch(), seq: 0 }));
    }
    position.seq += 1;
    const frame = build(position.epoch, position.seq);
    this.pending.add(daemonId, { epoch: position.epoch, seq: position.seq, at: Date.now(), frame, inbound });
    return frame;
  }

  /** The last turn's events are recorded before Redis is let go. */
  onModuleDestroy(): void {
    this.recordAll();
  }

  /** Sends every pending append now; reads call it first, so they see every event appended before them. */
  recordAll(): void {
    this.pending.flushAll();
  }

  /** One transaction for a daemon's appends of one turn. */
  private record(daemonId: string, appends: PendingAppend[]): void {
    // Appends numbered under an epoch Redis has since lost belong to a history that is gone.
    const epoch = this.local.get(daemonId)?.epoch;
    const current = appends.filter((append) => append.epoch === epoch);
    const last = current.at(-1);
    if (!last) return;
    const stream = this.streamKey(daemonId);
    const transaction = this.redis.commands.multi();
    for (const entry of current) transaction.xadd(stream, 'MAXLEN', '~', String(this.maxEvents), `${entry.seq}-1`, 't', String(entry.at), 'f', entry.frame);
    transaction.pexpire(stream, this.ttlMs).set(this.seqKey(daemonId), String(last.seq), 'PX', POSITION_TTL_MS);
    // The daemon's own number goes in the same transaction: recorded exactly when its event is.
    const inbound = current.findLast((append) => append.inbound)?.inbound;
    if (inbound) transaction.set(this.inboundKey(daemonId), `${inbound.session}:${inbound.seq}`, 'PX', POSITION_TTL_MS);
    transaction.exec().catch((error: unknown) => this.warn(error));
  }

  async lastInbound(daemonId: string, session: string): Promise<number> {
    this.recordAll();
    try {
      const stored = await this.redis.commands.get(this.inboundKey(daemonId));
      if (!stored) return 0;
      const separator = stored.lastIndexOf(':');
      return stored.slice(0, separator) === session ? Number(stored.slice(separator + 1)) : 0;
    } catch {
      throw new GatewayException(ErrorCode.Unavailable, 'shared state is unavailable; retry shortly');
    }
  }

  async position(daemonId: string): Promise<StreamPosition> {
    const local = this.local.get(daemonId);
    if (local) return { ...local };
    try {
      return await this.load(daemonId);
    } catch {
      throw new GatewayException(ErrorCode.Unavailable, 'shared state is unavailable; retry shortly');
    }
  }

  async replay(daemonId: string, since: StreamPosition): Promise<Replay> {
    const position = await this.position(daemonId);
    if (since.epoch !== position.epoch || since.seq > position.seq) return { kind: 'resync', reason: 'epoch_changed', position };
    if (since.seq === position.seq) return { kind: 'events', position, frames: [] };
    const frames = await this.range(daemonId, since.seq + 1, position.seq);
    return frames ? { kind: 'events', position, frames } : { kind: 'resync', reason: 'history_expired', position };
  }

  /**
   * Frames `from`…`to` from the stream, or undefined unless every one of them is there and
   * younger than the history's age limit (a hole is never papered over).
   */
  async range(daemonId: string, from: number, to: number): Promise<string[] | undefined> {
    this.recordAll();
    let entries: Array<[string, string[]]>;
    try {
      entries = (await this.redis.commands.xrange(this.streamKey(daemonId), `${from}-0`, `${to}-1`)) as Array<[string, string[]]>;
    } catch {
      throw new GatewayException(ErrorCode.Unavailable, 'shared state is unavailable; retry shortly');
    }
    const oldestAllowed = Date.now() - this.ttlMs;
    const frames: string[] = [];
    for (const [id, fields] of entries) {
      const seq = Number.parseInt(id, 10);
      if (seq !== from + frames.length) return undefined;
      if (Number(fields[1]) < oldestAllowed) return undefined;
      frames.push(fields[3]);
    }
    return frames.length === to - from + 1 ? frames : undefined;
  }

  prune(inUse: (daemonId: string) => boolean): void {
    for (const daemonId of this.local.keys()) if (!inUse(daemonId)) this.local.delete(daemonId);
  }

  private async load(daemonId: string): Promise<StreamPosition> {
    this.recordAll();
    const [epoch, seq] = (await this.redis.commands.eval(POSITION, 2, this.epochKey(daemonId), this.seqKey(daemonId), newEpoch(), String(POSITION_TTL_MS))) as [string, string];
    return { epoch, seq: Number(seq) };
  }

  /** After a reconnect: a stream whose epoch Redis no longer has lost its history, so it gets a new epoch. */
  private async verifyEpochs(): Promise<void> {
    this.warned = false;
    for (const [daemonId, position] of this.local) {
      try {
        const stored = await this.redis.commands.get(this.epochKey(daemonId));
        if (stored === position.epoch) continue;
        const fresh = await this.load(daemonId);
        this.logger.warn({ msg: 'event history lost: new epoch', daemonId, epoch: fresh.epoch });
        this.local.set(daemonId, fresh);
      } catch (error) {
        this.warn(error);
      }
    }
  }

  private warn(error: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.logger.warn({ msg: 'event history not recorded while Redis is unavailable', error: error instanceof Error ? error.message : String(error) });
  }

  private streamKey(daemonId: string): string {
    return this.redis.key('stream', daemonId);
  }

  private epochKey(daemonId: string): string {
    return this.redis.key('epoch', daemonId);
  }

  private inboundKey(daemonId: string): string {
    return this.redis.key('inbound', daemonId);
  }

  private seqKey(daemonId: string): string {
    return this.redis.key('seq', daemonId);
  }
}
