import type { RedisConnections } from '../../redis/redis-connections.js';
import { typeOfCode, type EventFrame } from './event-frame.js';
import type { InboundPosition } from './event-streams.js';

/** How long a daemon's epoch, last seq and holder outlive its last event: a quiet daemon keeps its epoch. */
export const POSITION_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Records a batch of the holder's events and publishes them, or refuses it — atomically, so no
 * event is recorded or published by a connection that no longer holds the daemon.
 * KEYS: holder, epoch, seq, stream, inbound. ARGV: holder, epoch, first seq, position TTL, stream
 * TTL, MAXLEN, now, channel, publisher tag, inbound (`session:seq` or ''), type codes (one
 * character per frame), frames….
 * Stream entries are `{seq}-1` with `t` (recorded at), `y` (type code), `f` (the frame). The batch
 * is published as `{tag}|{epoch}|{first seq}|{type codes}|{frame}\n{frame}…` (JSON holds no raw
 * newline; `decodeEventBatch` reads it), so receivers sequence and count it without reading the frames.
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
 * KEYS: holder, epoch, seq, stream, inbound. ARGV: holder, candidate epoch, position TTL, mode.
 * Mode 'connect': a newly connected daemon takes over, continuing the recorded epoch (the newest
 * connection wins). Mode 'restart': the daemon's live connection, whose numbering Redis never
 * recorded, takes over in a new epoch. Returns {epoch, seq, inbound}.
 */
const TAKE_OVER = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
local epoch = redis.call('GET', KEYS[2])
local seq = redis.call('GET', KEYS[3])
if not epoch or not seq or ARGV[4] == 'restart' then
  epoch = ARGV[2]
  seq = '0'
  redis.call('SET', KEYS[2], epoch, 'PX', ARGV[3])
  redis.call('SET', KEYS[3], '0', 'PX', ARGV[3])
  redis.call('DEL', KEYS[4])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return {epoch, seq, redis.call('GET', KEYS[5]) or ''}`;

/**
 * A holder that numbered on while Redis was away takes its place back, so that it can record what
 * it numbered in the same epoch: only if Redis still names it (or the connection it succeeded on
 * this instance) the holder, and the epoch and seq are where it left them.
 * KEYS: holder, epoch, seq. ARGV: recorded holder, connection, epoch, last seq it knows recorded,
 * last seq it numbered, position TTL.
 * Returns {'ok', stored seq} (what of its numbering Redis already has: a batch whose reply was
 * lost may have been recorded), {'fenced'} or {'lost'}.
 */
const RESUME = `
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] and holder ~= ARGV[2] then
  if holder then return {'fenced'} end
  return {'lost'}
end
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return {'lost'} end
local stored = tonumber(redis.call('GET', KEYS[3]) or '-1')
if stored < tonumber(ARGV[4]) or stored > tonumber(ARGV[5]) then return {'lost'} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return {'ok', tostring(stored)}`;

/** The daemon's position for a reader, creating its epoch (seq 0) if the stream has none. */
export const POSITION = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
  epoch = redis.call('GET', KEYS[1])
  redis.call('SET', KEYS[2], '0', 'PX', ARGV[2])
end
return {epoch, redis.call('GET', KEYS[2]) or '0'}`;

export type TakeOverReply = [epoch: string, seq: string, inbound: string];
export type ResumeReply = ['ok', string] | ['fenced'] | ['lost'];

/** The scripts registered with ioredis's defineCommand (sent as EVALSHA, loaded on NOSCRIPT). */
export interface StreamScripts {
  arborAppend(...keysAndArgs: string[]): Promise<'ok' | 'fenced' | 'lost'>;
  arborTakeOver(...keysAndArgs: string[]): Promise<TakeOverReply>;
  arborResume(...keysAndArgs: string[]): Promise<ResumeReply>;
}

/** Registers the stream scripts once per connection set and returns them typed. */
export function streamScripts(redis: RedisConnections): StreamScripts {
  redis.commands.defineCommand('arborAppend', { numberOfKeys: 5, lua: redis.lua(APPEND) });
  redis.commands.defineCommand('arborTakeOver', { numberOfKeys: 5, lua: TAKE_OVER });
  redis.commands.defineCommand('arborResume', { numberOfKeys: 3, lua: RESUME });
  return redis.commands as unknown as StreamScripts;
}

/** A daemon's stream keys, all under its hash tag (one Cluster slot). */
export class StreamKeys {
  constructor(private readonly redis: RedisConnections) {}

  stream(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'stream');
  }

  epoch(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'epoch');
  }

  seq(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'seq');
  }

  holder(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'holder');
  }

  inbound(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'inbound');
  }

  /** The keys the append and take-over scripts name, in their order. */
  all(daemonId: string): [string, string, string, string, string] {
    return [this.holder(daemonId), this.epoch(daemonId), this.seq(daemonId), this.stream(daemonId), this.inbound(daemonId)];
  }
}

/** A stream entry's fields (`t`, `y`, `f`, in any order). */
export function streamEntry(fields: string[]): { at: number; type: EventFrame['type']; text: string } | undefined {
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

export function parseInbound(stored: string): InboundPosition | undefined {
  const separator = stored.lastIndexOf(':');
  return separator < 0 ? undefined : { session: stored.slice(0, separator), seq: Number(stored.slice(separator + 1)) };
}

export function formatInbound(inbound: InboundPosition | undefined): string {
  return inbound ? `${inbound.session}:${inbound.seq}` : '';
}
