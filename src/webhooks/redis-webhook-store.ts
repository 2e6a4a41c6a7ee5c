import { WebhookEventType, type WebhookEvent } from '@arbor/gateway-client/protocol';
import { presenceKey } from '../daemons/presence/daemon-presence.js';
import type { RedisConnections } from '../redis/redis-connections.js';
import { ReapOutcome, WebhookStore, webhookEvent, type PendingWebhook, type TransitionRecord } from './webhook-store.js';

/** A daemon's transition counter outlives its last transition by a week. */
const STATE_TTL_MS = 7 * 86_400_000;

/**
 * Numbers a transition in the daemon's slot, against its presence: `offline` only once no instance
 * holds it, the others only while one does (so reports racing a fast reconnect, from different
 * instances, never leave the wrong final status); a repeat of the current status is no transition
 * (`replaced` always is). With ARGV[5], a reap: wait while the departed instance still holds it.
 * Returns {0} for nothing, {-1} to wait, or {transition, epoch}.
 */
const RECORD = `
local holder = redis.call('HGET', KEYS[1], 'instance')
if ARGV[5] ~= '' and holder == ARGV[5] then return {-1} end
if ARGV[2] == 'offline' then
  if holder then return {0} end
elseif not holder then
  return {0}
end
local status = redis.call('HGET', KEYS[2], 'status') or 'offline'
if ARGV[1] ~= '${WebhookEventType.Replaced}' and status == ARGV[2] then return {0} end
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[2], 'epoch', epoch)
end
local transition = redis.call('HINCRBY', KEYS[2], 'transition', 1)
redis.call('HSET', KEYS[2], 'status', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {transition, epoch}`;

/** Adds an event once: its body by id, its due time. */
const ENQUEUE = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
return 0`;

/** Leases up to ARGV[3] due events until ARGV[1] + ARGV[2]; returns id, body pairs. */
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local body = redis.call('HGET', KEYS[1], id)
  if body then
    redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
    out[#out + 1] = id
    out[#out + 1] = body
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out`;

/**
 * Webhook state in Redis: each daemon's counter beside its presence (`{d:<id>}:webhook`), the
 * outbox under its own tag (`{webhooks}:events` bodies, `{webhooks}:due` times). Every script
 * touches one slot; the transition script reads the daemon's presence hash, in the same slot.
 */
export class RedisWebhookStore extends WebhookStore {
  private readonly eventsKey: string;
  private readonly dueKey: string;

  constructor(private readonly redis: RedisConnections) {
    super();
    this.eventsKey = redis.webhooksKey('events');
    this.dueKey = redis.webhooksKey('due');
  }

  async record(record: TransitionRecord): Promise<WebhookEvent | undefined> {
    const [transition, epoch] = await this.numbered(record, '');
    return transition > 0 ? webhookEvent(record, epoch, transition) : undefined;
  }

  async reap(daemonId: string, departedInstance: string, at: number): Promise<{ outcome: ReapOutcome; event?: WebhookEvent }> {
    const record: TransitionRecord = { daemonId, type: WebhookEventType.Offline, status: 'offline' as TransitionRecord['status'], at };
    const [transition, epoch] = await this.numbered(record, departedInstance);
    if (transition === -1) return { outcome: ReapOutcome.Wait };
    if (transition === 0) return { outcome: ReapOutcome.Settled };
    return { outcome: ReapOutcome.Offline, event: webhookEvent(record, epoch, transition) };
  }

  async enqueue(event: WebhookEvent, now: number): Promise<void> {
    const pending: PendingWebhook = { event, body: JSON.stringify(event), firstAt: now, attempts: 0 };
    await this.redis.commands.eval(ENQUEUE, 2, this.eventsKey, this.dueKey, event.id, JSON.stringify(pending), String(now));
  }

  async claim(now: number, leaseMs: number, max: number): Promise<PendingWebhook[]> {
    const pairs = (await this.redis.commands.eval(CLAIM, 2, this.eventsKey, this.dueKey, String(now), String(leaseMs), String(max))) as string[];
    const claimed: PendingWebhook[] = [];
    for (let index = 0; index < pairs.length; index += 2) claimed.push(JSON.parse(pairs[index + 1]) as PendingWebhook);
    return claimed;
  }

  async delivered(id: string): Promise<void> {
    await this.redis.commands.multi().zrem(this.dueKey, id).hdel(this.eventsKey, id).exec();
  }

  async retryAt(pending: PendingWebhook, at: number): Promise<void> {
    const next: PendingWebhook = { ...pending, attempts: pending.attempts + 1 };
    await this.redis.commands.multi().hset(this.eventsKey, pending.event.id, JSON.stringify(next)).zadd(this.dueKey, at, pending.event.id).exec();
  }

  async drop(id: string): Promise<void> {
    await this.delivered(id);
  }

  async pending(): Promise<number> {
    return this.redis.commands.zcard(this.dueKey);
  }

  async takeReapTurn(instanceId: string, reaper: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.commands.set(this.redis.instanceKey(instanceId, 'reaper'), reaper, 'PX', ttlMs, 'NX')) === 'OK';
  }

  private async numbered(record: TransitionRecord, departedInstance: string): Promise<[number, number]> {
    const [transition, epoch] = (await this.redis.commands.eval(
      RECORD,
      2,
      presenceKey(this.redis, record.daemonId),
      this.redis.daemonKey(record.daemonId, 'webhook'),
      record.type,
      record.status,
      String(record.at),
      String(STATE_TTL_MS),
      departedInstance,
    )) as [number, string | undefined];
    return [Number(transition), Number(epoch ?? 0)];
  }
}
