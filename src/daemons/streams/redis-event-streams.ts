import { Logger, type OnModuleDestroy } from '@nestjs/common';
import type { StreamPosition } from '@arbor/gateway-client/protocol';
import { unavailable } from '../../errors/domain.error.js';
import type { RedisConnections } from '../../redis/redis-connections.js';
import { TurnBatches } from '../../redis/turn-batches.js';
import { EventFrame, typeCode, typeOfCode } from './event-frame.js';
import { EventStreams, lastSeqOf, type InboundPosition, type RecentEvents, type Replay, type StreamEvent } from './event-streams.js';
import { newEpoch } from './in-memory-event-streams.js';

/** How long a daemon's epoch, last seq and holder outlive its last event: a quiet daemon keeps its epoch. */
const POSITION_TTL_MS = 24 * 60 * 60 * 1000;
/** A quiet holder refreshes its keys this often, so they never expire under a connected daemon. */
const HOLDER_REFRESH_MS = 60 * 60 * 1000;

/** A daemon's appends are sent once this many are pending, else at the end of the turn. */
const APPEND_BATCH = 256;

/**
 * Records a batch of the holder's events and publishes them, or refuses it — atomically, so no
 * event is recorded or published by a connection that no longer holds the daemon.
 * KEYS: holder, epoch, seq, stream, inbound. ARGV: holder, epoch, first seq, position TTL, stream
 * TTL, MAXLEN, now, channel, publisher tag, inbound (`session:seq` or ''), type codes (one
 * character per frame), frames….
 * Stream entries are `{seq}-1` with `t` (recorded at), `y` (type code), `f` (the frame). The batch
 * is published as `{tag}|{epoch}|{first seq}|{type codes}|{frame}\n{frame}…` (JSON holds no raw
 * newline), so receivers sequence and count it without reading the frames.
 * Returns 'ok', 'fenced' (another connection holds the daemon) or 'lost' (the position is not
 * where this holder left it: Redis lost it, or an earlier batch of ours failed).
 */
const APPEND = `
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then
  if holder then return 'fenced' end
  return 'lost'
end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 'lost' end
local first = tonumber(ARGV[3])
local count = #ARGV - 11
local last = first + count - 1
local stored = tonumber(redis.call('GET', KEYS[3]) or '-1')
if stored >= last then return 'ok' end
if stored ~= first - 1 then return 'lost' end
for i = 1, count do
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], (first + i - 1) .. '-1', 't', ARGV[7], 'y', string.sub(ARGV[11], i, i), 'f', ARGV[11 + i])
end
redis.call('PEXPIRE', KEYS[4], ARGV[5])
redis.call('SET', KEYS[3], last, 'PX', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if ARGV[10] ~= '' then redis.call('SET', KEYS[5], ARGV[10], 'PX', ARGV[4]) end
redis.call('PUBLISH', ARGV[8], ARGV[9] .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[11] .. '|' .. table.concat(ARGV, '\\n', 12))
return 'ok'`;

/**
 * Makes a connection the daemon's holder and returns the recorded position.
 * KEYS: holder, epoch, seq, stream, inbound. ARGV: holder, candidate epoch, position TTL, mode,
 * inbound.
 * Mode 'connect': a newly connected daemon takes over unconditionally (the newest connection wins).
 * Mode 'rejoin': a holder that numbered in an epoch of its own instance records again, in a new
 * epoch — unless another connection took over meanwhile. Returns {'ok', epoch, seq, inbound} or
 * {'fenced'}.
 */
const TAKE_OVER = `
local holder = redis.call('GET', KEYS[1])
if ARGV[4] == 'rejoin' and holder and holder ~= ARGV[1] then return {'fenced'} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
local epoch = redis.call('GET', KEYS[2])
local seq = redis.call('GET', KEYS[3])
if not epoch or not seq or ARGV[4] == 'rejoin' then
  epoch = ARGV[2]
  seq = '0'
  redis.call('SET', KEYS[2], epoch, 'PX', ARGV[3])
  redis.call('SET', KEYS[3], '0', 'PX', ARGV[3])
  redis.call('DEL', KEYS[4])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[5], ARGV[5], 'PX', ARGV[3]) end
return {'ok', epoch, seq, redis.call('GET', KEYS[5]) or ''}`;

/** The daemon's position for a reader, creating its epoch (seq 0) if the stream has none. */
const POSITION = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
  epoch = redis.call('GET', KEYS[1])
  redis.call('SET', KEYS[2], '0', 'PX', ARGV[2])
end
return {epoch, redis.call('GET', KEYS[2]) or '0'}`;

interface PendingAppend {
  frame: EventFrame;
  /** Kept to number the event again in another epoch (see goLocal). */
  event: StreamEvent;
  inbound: InboundPosition | undefined;
}

enum HolderMode {
  /** Events are recorded (and published) before they are delivered. */
  Recorded = 'recorded',
  /** Redis failed us: events are numbered in an epoch of this instance's own and delivered at once. */
  Local = 'local',
  /** Another connection took the daemon over: this one's events are dropped. */
  Fenced = 'fenced',
}

/** This instance's numbering of one daemon, for the connection that holds it. */
interface Holder {
  readonly connection: string;
  mode: HolderMode;
  epoch: string;
  /** Last seq given out. */
  numbered: number;
  /** Last seq recorded and delivered. */
  committed: number;
  /** Last daemon-session position accepted with an event (recorded or, in local mode, delivered). */
  inbound: InboundPosition | undefined;
  /** Appends sent and not yet answered, oldest first; a mode change discards their answers. */
  inFlight: PendingAppend[][];
  /** Bumped on every mode change: answers to batches of an earlier generation are ignored. */
  generation: number;
  rejoining: boolean;
  refreshedAt: number;
  /** The daemon's connection closed: it appends nothing more, and the position is read from Redis. */
  released: boolean;
}

type TakeOverReply = ['ok', string, string, string] | ['fenced'];

/**
 * Event history in a Redis Stream per daemon (`XADD … MAXLEN ~`, entry id `{seq}-1`), so any
 * instance can replay it and it survives the loss of any instance.
 *
 * The daemon's holder numbers its events itself (appending stays synchronous) and records each
 * turn's events in one script that also checks, atomically, that it still holds the daemon and
 * that the stream is where it left it; only then are they published and delivered. So:
 * - one connection numbers an epoch at a time (a takeover fences the previous holder's batches);
 * - no client ever sees an event the history lacks, so the next holder never reuses a seq and the
 *   `lastSeq` it gives the daemon is never below an event a client has.
 * When Redis fails a batch, the holder moves to an epoch of its own (delivered at once, not
 * recorded: local clients keep their events) and rejoins with a new epoch when Redis answers again.
 */
export class RedisEventStreams extends EventStreams implements OnModuleDestroy {
  private readonly logger = new Logger(RedisEventStreams.name);
  private readonly holders = new Map<string, Holder>();
  private warned = false;
  /** A daemon's appends of one turn, recorded in one script call. */
  private readonly pending = new TurnBatches<PendingAppend>((daemonId, appends) => this.record(daemonId, appends), APPEND_BATCH);

  constructor(
    private readonly redis: RedisConnections,
    private readonly maxEvents: number,
    private readonly ttlMs: number,
  ) {
    super();
    redis.commands.defineCommand('arborAppend', { numberOfKeys: 5, lua: redis.lua(APPEND) });
    redis.commands.defineCommand('arborTakeOver', { numberOfKeys: 5, lua: TAKE_OVER });
    // A recording holder learns from its next batch whether Redis still has its position.
    redis.onReady(() => {
      this.warned = false;
      for (const [daemonId, holder] of this.holders) if (holder.mode === HolderMode.Local) void this.rejoin(daemonId, holder);
    });
  }

  async takeOver(daemonId: string, connection: string, session?: string): Promise<number> {
    // The previous holder's appends go before the takeover (recorded) or after it (refused),
    // never in one batch with the new holder's.
    this.pending.flush(daemonId);
    const previous = this.holders.get(daemonId);
    try {
      const reply = await this.takeOverScript(daemonId, connection, 'connect');
      this.pending.flush(daemonId);
      if (reply[0] !== 'ok') throw new Error('a connecting daemon is never fenced');
      const [, epoch, seq, inbound] = reply;
      const position = Number(seq);
      this.holders.set(daemonId, this.newHolder(connection, HolderMode.Recorded, epoch, position, parseInbound(inbound)));
      return lastSeqOf(parseInbound(inbound), session);
    } catch (error) {
      // Redis is away: number in an epoch of our own so local pairs keep working; rejoin later.
      this.pending.flush(daemonId);
      this.warn(error);
      const inbound = previous?.inbound;
      this.holders.set(daemonId, this.newHolder(connection, HolderMode.Local, newEpoch(), 0, inbound));
      return lastSeqOf(inbound, session);
    }
  }

  append(daemonId: string, connection: string, event: StreamEvent, inbound?: InboundPosition): void {
    const holder = this.holders.get(daemonId);
    if (!holder || holder.connection !== connection || holder.mode === HolderMode.Fenced || holder.released) return this.sink?.fenced(daemonId, connection);
    if (inbound) holder.inbound = inbound;
    const append = { frame: EventFrame.of(event.type, daemonId, holder.epoch, ++holder.numbered, event.payload, event.tc), event, inbound };
    if (holder.mode === HolderMode.Local) return this.deliver(holder, [append]);
    this.pending.add(daemonId, append);
  }

  /** Its batches still pending or in flight are recorded and delivered; prune forgets it after. */
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
    try {
      const [epoch, seq] = (await this.redis.commands.eval(
        POSITION,
        2,
        this.epochKey(daemonId),
        this.seqKey(daemonId),
        newEpoch(),
        String(POSITION_TTL_MS),
      )) as [string, string];
      return { epoch, seq: Number(seq) };
    } catch {
      throw unavailable();
    }
  }

  async replay(daemonId: string, since: StreamPosition): Promise<Replay> {
    const position = await this.position(daemonId);
    if (since.epoch !== position.epoch || since.seq > position.seq) return { kind: 'resync', reason: 'epoch_changed', position };
    if (since.seq === position.seq) return { kind: 'events', position, frames: [] };
    // An epoch of this instance's own was never recorded: nothing to replay from.
    if (this.holders.get(daemonId)?.mode === HolderMode.Local) return { kind: 'resync', reason: 'history_expired', position };
    const frames = await this.range(daemonId, position.epoch, since.seq + 1, position.seq);
    return frames ? { kind: 'events', position, frames } : { kind: 'resync', reason: 'history_expired', position };
  }

  /**
   * Frames `from`…`to` from the stream, or undefined unless every one of them is there and
   * younger than the history's age limit (a hole is never papered over).
   */
  async range(daemonId: string, epoch: string, from: number, to: number): Promise<EventFrame[] | undefined> {
    let entries: Array<[string, string[]]>;
    try {
      entries = await this.redis.commands.xrange(this.streamKey(daemonId), `${from}-0`, `${to}-1`);
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
   * Walks back from the position while entries are contiguous and young enough. Retained entries
   * are a suffix of the epoch (trimming and ageing take the oldest), so where the walk stops
   * inside the window is where history begins; past the window it is found by bisection.
   */
  async recent(daemonId: string, limit: number): Promise<RecentEvents> {
    const position = await this.position(daemonId);
    const none = { position, historyStart: position.seq + 1, frames: [] };
    if (position.seq === 0 || this.holders.get(daemonId)?.mode === HolderMode.Local) return none;
    const oldestAllowed = Date.now() - this.ttlMs;
    const key = this.streamKey(daemonId);
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

  async hasHistory(daemonId: string): Promise<boolean> {
    try {
      return (await this.redis.commands.exists(this.epochKey(daemonId))) === 1;
    } catch {
      throw unavailable();
    }
  }

  prune(inUse: (daemonId: string) => boolean): void {
    const now = Date.now();
    for (const [daemonId, holder] of this.holders) {
      if ((holder.released || !inUse(daemonId)) && holder.inFlight.length === 0) this.holders.delete(daemonId);
      else if (holder.mode === HolderMode.Local && this.redis.isReady) void this.rejoin(daemonId, holder);
      else if (holder.mode === HolderMode.Recorded && now - holder.refreshedAt > HOLDER_REFRESH_MS) this.refreshKeys(daemonId, holder, now);
    }
  }

  // ---- recording -----------------------------------------------------------------------------

  /** One script call for a holder's appends of one turn; delivered once Redis has them. */
  private record(daemonId: string, appends: PendingAppend[]): void {
    const holder = this.holders.get(daemonId);
    // Appends of a holder that has since changed mode were taken over by that change.
    if (!holder || holder.mode !== HolderMode.Recorded) return;
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
      inbound ? `${inbound.session}:${inbound.seq}` : '',
      codes,
    ];
    for (const append of appends) args.push(append.frame.text);
    (this.redis.commands as unknown as ScriptCommands)
      .arborAppend(this.holderKey(daemonId), this.epochKey(daemonId), this.seqKey(daemonId), this.streamKey(daemonId), this.inboundKey(daemonId), ...args)
      .then(
        (outcome) => this.recorded(daemonId, holder, generation, outcome),
        (error: unknown) => this.recorded(daemonId, holder, generation, error),
      );
  }

  private recorded(daemonId: string, holder: Holder, generation: number, outcome: unknown): void {
    if (holder.generation !== generation) return;
    if (outcome === 'ok') return this.deliver(holder, holder.inFlight.shift()!);
    // A newer connection of the daemon on this instance holds it now: whatever failed, this one is
    // done, and the appends pending for the daemon are the newer connection's.
    const current = this.holders.get(daemonId) === holder;
    if (outcome === 'fenced' || !current) {
      this.logger.log({ msg: 'daemon taken over by another connection; its events here are dropped', daemonId, connectionId: holder.connection });
      this.changeMode(holder, HolderMode.Fenced);
      if (current) this.pending.take(daemonId);
      this.sink?.fenced(daemonId, holder.connection);
      return;
    }
    this.warn(outcome);
    this.goLocal(daemonId, holder);
  }

  /**
   * Redis failed a batch (unreachable, or the position was not where we left it): every event
   * not yet recorded is numbered again in an epoch of our own and delivered now, so local clients
   * lose nothing; they are told to resync by the epoch change, as remote ones are when we rejoin.
   */
  private goLocal(daemonId: string, holder: Holder): void {
    const unrecorded = holder.inFlight.flat().concat(this.pending.take(daemonId));
    this.changeMode(holder, HolderMode.Local);
    holder.epoch = newEpoch();
    holder.numbered = 0;
    holder.committed = 0;
    this.logger.warn({ msg: 'event history unavailable: numbering in an epoch of this instance until Redis answers', daemonId, epoch: holder.epoch });
    const renumbered = unrecorded.map(({ event, inbound }) => ({
      frame: EventFrame.of(event.type, daemonId, holder.epoch, ++holder.numbered, event.payload, event.tc),
      event,
      inbound,
    }));
    if (renumbered.length) this.deliver(holder, renumbered);
    if (this.redis.isReady) void this.rejoin(daemonId, holder);
  }

  /**
   * A local holder records again, in a new epoch (its own was never recorded), unless another
   * connection took the daemon over meanwhile. Its events while this is under way stay local.
   */
  private async rejoin(daemonId: string, holder: Holder): Promise<void> {
    if (holder.rejoining || holder.released || holder.mode !== HolderMode.Local || this.holders.get(daemonId) !== holder) return;
    holder.rejoining = true;
    try {
      const reply = await this.takeOverScript(daemonId, holder.connection, 'rejoin', holder.inbound);
      if (holder.mode !== HolderMode.Local || this.holders.get(daemonId) !== holder) return;
      if (reply[0] === 'fenced') {
        this.changeMode(holder, HolderMode.Fenced);
        this.sink?.fenced(daemonId, holder.connection);
        return;
      }
      const [, epoch, seq] = reply;
      this.changeMode(holder, HolderMode.Recorded);
      holder.epoch = epoch;
      holder.numbered = holder.committed = Number(seq);
      this.logger.warn({ msg: 'event history recorded again: new epoch', daemonId, epoch });
    } catch (error) {
      this.warn(error);
    } finally {
      holder.rejoining = false;
    }
  }

  private deliver(holder: Holder, appends: readonly PendingAppend[]): void {
    let inbound: InboundPosition | undefined;
    for (const append of appends) {
      holder.committed = append.frame.seq;
      this.sink?.committed(append.frame);
      if (append.inbound) inbound = append.inbound;
    }
    if (inbound) this.sink?.acknowledged(appends[0].frame.daemonId, holder.connection, inbound.seq);
  }

  private changeMode(holder: Holder, mode: HolderMode): void {
    holder.mode = mode;
    holder.generation += 1;
    holder.inFlight = [];
  }

  private newHolder(connection: string, mode: HolderMode, epoch: string, seq: number, inbound: InboundPosition | undefined): Holder {
    return {
      connection,
      mode,
      epoch,
      numbered: seq,
      committed: seq,
      inbound,
      inFlight: [],
      generation: 0,
      rejoining: false,
      refreshedAt: Date.now(),
      released: false,
    };
  }

  private takeOverScript(daemonId: string, connection: string, mode: 'connect' | 'rejoin', inbound?: InboundPosition): Promise<TakeOverReply> {
    return (this.redis.commands as unknown as ScriptCommands).arborTakeOver(
      this.holderKey(daemonId),
      this.epochKey(daemonId),
      this.seqKey(daemonId),
      this.streamKey(daemonId),
      this.inboundKey(daemonId),
      connection,
      newEpoch(),
      String(POSITION_TTL_MS),
      mode,
      inbound ? `${inbound.session}:${inbound.seq}` : '',
    );
  }

  private refreshKeys(daemonId: string, holder: Holder, now: number): void {
    holder.refreshedAt = now;
    const ttl = String(POSITION_TTL_MS);
    this.redis.commands
      .multi()
      .pexpire(this.holderKey(daemonId), ttl)
      .pexpire(this.epochKey(daemonId), ttl)
      .pexpire(this.seqKey(daemonId), ttl)
      .exec()
      .catch((error: unknown) => this.warn(error));
  }

  private warn(error: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.logger.warn({ msg: 'event history not recorded while Redis is unavailable', error: error instanceof Error ? error.message : String(error) });
  }

  private streamKey(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'stream');
  }

  private epochKey(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'epoch');
  }

  private inboundKey(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'inbound');
  }

  private seqKey(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'seq');
  }

  private holderKey(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'holder');
  }
}

/** The scripts registered with ioredis's defineCommand (sent as EVALSHA, loaded on NOSCRIPT). */
interface ScriptCommands {
  arborAppend(...keysAndArgs: string[]): Promise<'ok' | 'fenced' | 'lost'>;
  arborTakeOver(...keysAndArgs: string[]): Promise<TakeOverReply>;
}

/** A stream entry's fields (`t`, `y`, `f`, in any order). */
function streamEntry(fields: string[]): { at: number; type: EventFrame['type']; text: string } | undefined {
  let at = Number.NaN;
  let code = '';
  let text: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 't') at = Number(fields[i + 1]);
    else if (fields[i] === 'y') code = fields[i + 1];
    else if (fields[i] === 'f') text = fields[i + 1];
  }
  const type = typeOfCode(code);
  return type && text !== undefined && !Number.isNaN(at) ? { at, type, text } : undefined;
}

function parseInbound(stored: string): InboundPosition | undefined {
  const separator = stored.lastIndexOf(':');
  return separator < 0 ? undefined : { session: stored.slice(0, separator), seq: Number(stored.slice(separator + 1)) };
}
