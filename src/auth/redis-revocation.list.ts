import { Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { DomainError } from '../errors/domain.error.js';
import type { RedisConnections } from '../redis/redis-connections.js';
import { DisconnectTarget, RevocationKind, revocationKey, type DisconnectOrder, type Revocation } from './revocation.js';
import { RevocationList } from './revocation.list.js';

/** Disconnect orders share the revocations channel; this prefix tells them apart (a revocation is JSON). */
const DISCONNECT_MARK = 'disconnect:';

/** How long boot waits for Redis before starting without the list. */
const BOOT_WAIT_MS = 2_000;

/** How often the whole list is read again, covering a publish missed while the subscriber reconnected. */
const RESYNC_INTERVAL_MS = 5_000;

/**
 * Revocations shared by every instance: a Redis hash holds them (so an instance that starts later
 * knows them), a channel announces each one (so connections everywhere close within moments).
 */
export class RedisRevocationList extends RevocationList implements OnModuleInit, OnModuleDestroy {
  private readonly hashKey: string;
  private readonly channel: string;
  private resyncTimer: NodeJS.Timeout | undefined;
  private synced = false;

  constructor(private readonly redis: RedisConnections) {
    super();
    this.hashKey = redis.revocationsKey('list');
    this.channel = redis.revocationsKey('announce');
  }

  async onModuleInit(): Promise<void> {
    this.redis.onMessage((channel, message) => {
      if (channel !== this.channel) return;
      if (message.startsWith(DISCONNECT_MARK)) {
        const order = parseDisconnect(message.slice(DISCONNECT_MARK.length));
        if (order) this.applyDisconnect(order);
        return;
      }
      const revocation = parseRevocation(message);
      if (revocation) this.apply(revocation);
    });
    // Give a Redis that is still connecting a moment, so the list is loaded before the first
    // connection; if Redis is away at boot, the first ready connection loads it (1013 until then).
    await this.redis.whenReady(BOOT_WAIT_MS);
    await this.redis.subscribe(this.channel);
    this.redis.onReady(() => void this.resync());
    await this.resync();
    this.resyncTimer = setInterval(() => void this.resync(), RESYNC_INTERVAL_MS);
    this.resyncTimer.unref();
  }

  override get isSynced(): boolean {
    return this.synced;
  }

  onModuleDestroy(): void {
    clearInterval(this.resyncTimer);
  }

  async revoke(revocation: Revocation): Promise<void> {
    const text = JSON.stringify(revocation);
    try {
      const recorded = this.redis.commands.multi().hset(this.hashKey, revocationKey(revocation.kind, revocation.value), text);
      await (this.redis.sharded ? recorded.spublish(this.channel, text) : recorded.publish(this.channel, text)).exec();
    } catch {
      throw new DomainError(ErrorCode.Unavailable, 'shared state unavailable; revocation not recorded');
    }
    this.apply(revocation);
  }

  /** Announced on the revocations channel, not stored: an order concerns the connections open now. */
  async disconnect(order: DisconnectOrder): Promise<void> {
    try {
      await this.redis.publish(this.channel, DISCONNECT_MARK + JSON.stringify(order));
    } catch {
      throw new DomainError(ErrorCode.Unavailable, 'shared state unavailable; disconnect not sent');
    }
  }

  private async resync(): Promise<void> {
    let stored: Record<string, string>;
    try {
      stored = await this.redis.commands.hgetall(this.hashKey);
    } catch {
      return; // Redis is away; the next resync or reconnect catches up.
    }
    const now = Date.now();
    const expired: string[] = [];
    for (const [field, text] of Object.entries(stored)) {
      const revocation = parseRevocation(text);
      if (!revocation || revocation.expiresAt <= now) expired.push(field);
      else this.apply(revocation);
    }
    this.prune(now);
    this.synced = true;
    if (expired.length > 0) await this.redis.commands.hdel(this.hashKey, ...expired).catch(() => undefined);
  }
}

function parseDisconnect(text: string): DisconnectOrder | undefined {
  try {
    const order = JSON.parse(text) as DisconnectOrder;
    const targets: string[] = Object.values(DisconnectTarget);
    if (targets.includes(order.target) && typeof order.value === 'string' && typeof order.reason === 'string' && typeof order.reconnect === 'boolean')
      return order;
  } catch {
    // fall through
  }
  new Logger('Revocations').warn({ msg: 'ignoring a malformed disconnect order' });
  return undefined;
}

function parseRevocation(text: string): Revocation | undefined {
  try {
    const value = JSON.parse(text) as Revocation;
    const kinds: string[] = Object.values(RevocationKind);
    if (kinds.includes(value.kind) && typeof value.value === 'string' && Number.isFinite(value.revokedAt) && Number.isFinite(value.expiresAt)) return value;
  } catch {
    // fall through
  }
  new Logger('Revocations').warn({ msg: 'ignoring a malformed revocation entry' });
  return undefined;
}
