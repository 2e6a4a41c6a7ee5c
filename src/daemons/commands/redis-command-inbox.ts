import { CommandStatus, type Frame } from '@arbor/gateway-client/protocol';
import { createHash } from 'node:crypto';
import { unavailable } from '../../errors/domain.error.js';
import type { RedisConnections } from '../../redis/redis-connections.js';
import { presenceKey } from '../presence/daemon-presence.js';
import {
  CommandInbox,
  duplicateOf,
  firstSeq,
  type AcceptResult,
  type CommandOutcome,
  type NewCommand,
  type PendingCommand,
  type PendingCommands,
} from './command-inbox.js';

/**
 * Claims the id and records the command, or says why not. Every key is under the daemon's hash
 * tag. KEYS: outcome (`<state>|<owner>`), commands (hash), order (sorted set by seq), seq. ARGV:
 * id, record, sender instance ('' for none), expires at, outcome TTL, inbox TTL, first seq of a
 * new numbering, owner (the user, hashed). The hash holds per command `<id>` (the record),
 * `e:<id>` (expires at) and `s:<id>` (sender).
 */
const ACCEPT = `
local outcome = redis.call('GET', KEYS[1])
if outcome then
  local state, owner = string.match(outcome, '^([^|]*)|(.*)$')
  if owner ~= ARGV[8] then return {'conflict'} end
  return {'duplicate', state}
end
if redis.call('EXISTS', KEYS[4]) == 0 then redis.call('SET', KEYS[4], ARGV[7]) end
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2], 'e:' .. ARGV[1], ARGV[4])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 's:' .. ARGV[1], ARGV[3]) end
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('SET', KEYS[1], 'accepted|' .. ARGV[8], 'PX', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
redis.call('PEXPIRE', KEYS[4], ARGV[6])
return {'accepted', seq}`;

/**
 * KEYS: commands, order, seq. ARGV: first seq of a new numbering, inbox TTL. Starts the daemon's
 * numbering if it has none, so the holder knows the next seq. Returns the last seq, then seq,
 * record, expires at, sender for each waiting command.
 */
const PENDING = `
if redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2], 'NX') == false then redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
local out = {redis.call('GET', KEYS[3])}
local ids = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #ids, 2 do
  local values = redis.call('HMGET', KEYS[1], ids[i], 'e:' .. ids[i], 's:' .. ids[i])
  if values[1] then
    table.insert(out, ids[i + 1])
    table.insert(out, values[1])
    table.insert(out, values[2])
    table.insert(out, values[3] or '')
  end
end
return out`;

/**
 * Takes a command out (the caller checked why) and remembers its outcome (ARGV[3]) on its id's
 * outcome key (KEYS[3]) in the same step, so a sender whose status was lost with an instance can
 * still learn it.
 */
const TAKE_OUT = `
local remembered = redis.call('GET', KEYS[3])
if remembered then
  redis.call('SET', KEYS[3], ARGV[3] .. '|' .. (string.match(remembered, '|(.*)$') or ''), 'KEEPTTL')
end
local values = redis.call('HMGET', KEYS[1], ARGV[1], 'e:' .. ARGV[1], 's:' .. ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1], 'e:' .. ARGV[1], 's:' .. ARGV[1])
local seq = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {seq, values[1], values[2], values[3] or ''}`;

/** KEYS: commands, order, outcome, presence. ARGV: id, confirming connection, 'delivered'. Only the current holder's confirmation counts. */
const CONFIRM = `
if redis.call('HGET', KEYS[4], 'connection') ~= ARGV[2] then return false end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return false end
${TAKE_OUT}`;

/** KEYS: commands, order, outcome. ARGV: id, now, 'expired'. */
const EXPIRE = `
local expires = redis.call('HGET', KEYS[1], 'e:' .. ARGV[1])
if not expires or tonumber(expires) > tonumber(ARGV[2]) then return false end
${TAKE_OUT}`;

/** KEYS: commands. ARGV: id, user, sender. */
const REDIRECT = `
local record = redis.call('HGET', KEYS[1], ARGV[1])
if record and cjson.decode(record).userId == ARGV[2] then redis.call('HSET', KEYS[1], 's:' .. ARGV[1], ARGV[3]) end
return 1`;

/** The command a take-out script returned, if it took one out. */
function taken(reply: unknown): PendingCommand | undefined {
  const values = reply as [string, string | null, string, string] | null;
  return values && values[1] !== null ? parsed(values[0], values[1], values[2], values[3]) : undefined;
}

/**
 * The inbox shared by every instance. Records are JSON `{userId, frame}`; a command id's outcome
 * key (SHA-256 of the id; its state and its sender's SHA-256) lives for COMMAND_DEDUPE_TTL_MS, the
 * inbox keys while commands come.
 */
export class RedisCommandInbox extends CommandInbox {
  constructor(
    private readonly redis: RedisConnections,
    private readonly ttlMs: number,
    private readonly dedupeTtlMs: number,
  ) {
    super();
  }

  async accept(daemonId: string, command: NewCommand, now: number): Promise<AcceptResult> {
    const expiresAt = now + this.ttlMs;
    const record = JSON.stringify({ userId: command.userId, frame: command.frame });
    const reply = (await this.call(() =>
      this.redis.commands.eval(
        ACCEPT,
        4,
        this.outcomeKey(daemonId, command.id),
        ...this.inboxKeys(daemonId),
        command.id,
        record,
        command.senderInstance ?? '',
        String(expiresAt),
        String(this.dedupeTtlMs),
        String(this.dedupeTtlMs),
        String(firstSeq(now)),
        ownerOf(command.userId),
      ),
    )) as [string, (string | number)?];
    if (reply[0] === 'conflict') return { kind: 'conflict' };
    const duplicate = reply[0] === 'duplicate' ? duplicateOf(String(reply[1])) : undefined;
    if (duplicate) return duplicate;
    return { kind: 'accepted', command: { ...command, seq: Number(reply[1]), expiresAt } };
  }

  async pending(daemonId: string, now: number): Promise<PendingCommands> {
    const [lastSeq, ...rows] = (await this.call(() =>
      this.redis.commands.eval(PENDING, 3, ...this.inboxKeys(daemonId), String(firstSeq(now)), String(this.dedupeTtlMs)),
    )) as string[];
    const commands: PendingCommand[] = [];
    for (let i = 0; i + 3 < rows.length; i += 4) {
      const command = parsed(rows[i], rows[i + 1], rows[i + 2], rows[i + 3]);
      if (command.expiresAt > now) commands.push(command);
      // Nobody waits for its status: it leaves here, as expired.
      else if (command.senderInstance === undefined) await this.expire(daemonId, command.id, now);
    }
    return { commands, lastSeq: Number(lastSeq) };
  }

  async confirm(daemonId: string, id: string, holder: string): Promise<PendingCommand | undefined> {
    const [commands, order] = this.inboxKeys(daemonId);
    const keys = [commands, order, this.outcomeKey(daemonId, id), presenceKey(this.redis, daemonId)];
    return taken(await this.call(() => this.redis.commands.eval(CONFIRM, 4, ...keys, id, holder, CommandStatus.Delivered)));
  }

  async expire(daemonId: string, id: string, now: number): Promise<PendingCommand | undefined> {
    const [commands, order] = this.inboxKeys(daemonId);
    const keys = [commands, order, this.outcomeKey(daemonId, id)];
    return taken(await this.call(() => this.redis.commands.eval(EXPIRE, 3, ...keys, id, String(now), CommandStatus.Expired)));
  }

  async outcome(daemonId: string, id: string): Promise<CommandOutcome | undefined> {
    const remembered = await this.call(() => this.redis.commands.get(this.outcomeKey(daemonId, id)));
    return remembered === null ? undefined : (remembered.slice(0, remembered.indexOf('|')) as CommandOutcome);
  }

  async redirect(daemonId: string, userId: string, id: string, senderInstance: string): Promise<void> {
    await this.call(() => this.redis.commands.eval(REDIRECT, 1, this.inboxKeys(daemonId)[0], id, userId, senderInstance));
  }

  private inboxKeys(daemonId: string): [string, string, string] {
    return [this.redis.daemonKey(daemonId, 'commands'), this.redis.daemonKey(daemonId, 'commands:order'), this.redis.daemonKey(daemonId, 'commands:seq')];
  }

  /** The id hashed: it is the client's, of any length. */
  private outcomeKey(daemonId: string, id: string): string {
    return this.redis.daemonKey(daemonId, `command:${digest(id)}`);
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch {
      throw unavailable();
    }
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** Who sent a command, as its outcome key remembers it (no user id is stored in the clear). */
function ownerOf(userId: string): string {
  return digest(userId);
}

function parsed(seq: string, record: string, expiresAt: string, sender: string): PendingCommand {
  const { userId, frame } = JSON.parse(record) as { userId: string; frame: Frame };
  return { id: frame.id!, seq: Number(seq), userId, frame, expiresAt: Number(expiresAt), senderInstance: sender === '' ? undefined : sender };
}
