import { Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { RedisConnections } from '../redis/redis-connections.js';
import { INSTANCE_BEAT_MS, INSTANCE_DEPARTED_MS, InstanceRegistry, type InstanceRecord } from './instance-registry.js';

/**
 * The registry in one Redis hash (`{instances}:registry`, field = instance id, value = its last
 * beat as JSON): one key, one slot, read whole — a deployment has tens of instances, not thousands.
 */
/** A departed instance nobody dealt with is forgotten after this long. */
const FORGET_AFTER_MS = 3_600_000;

export class RedisInstanceRegistry extends InstanceRegistry implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('InstanceRegistry');
  readonly instanceId: string;
  private readonly key: string;
  private beatTimer: NodeJS.Timeout | undefined;

  constructor(private readonly redis: RedisConnections) {
    super();
    this.instanceId = redis.instanceId;
    this.key = redis.instancesKey('registry');
  }

  onModuleInit(): void {
    // The first beat goes out the moment the command connection is ready, ahead of anything this
    // instance holds: an instance is in the registry before it holds a daemon, so a crash right
    // after boot is still noticed, and stats list it at once.
    this.redis.onReady(() => void this.beat());
    void this.beat();
    this.beatTimer = setInterval(() => void this.beat(), INSTANCE_BEAT_MS);
  }

  onModuleDestroy(): void {
    clearInterval(this.beatTimer);
  }

  async live(): Promise<InstanceRecord[]> {
    const now = Date.now();
    const records = (await this.all()).filter((record) => now - record.at < INSTANCE_DEPARTED_MS);
    return records.sort((a, b) => (a.instanceId === this.instanceId ? -1 : b.instanceId === this.instanceId ? 1 : a.instanceId.localeCompare(b.instanceId)));
  }

  async departed(): Promise<InstanceRecord[]> {
    const now = Date.now();
    return (await this.all()).filter((record) => now - record.at >= INSTANCE_DEPARTED_MS && record.instanceId !== this.instanceId);
  }

  async forget(instanceId: string): Promise<void> {
    await this.redis.commands.hdel(this.key, instanceId);
  }

  private async all(): Promise<InstanceRecord[]> {
    const fields = await this.redis.commands.hgetall(this.key);
    const records: InstanceRecord[] = [];
    for (const [instanceId, text] of Object.entries(fields)) {
      try {
        const { at, snapshot } = JSON.parse(text) as Omit<InstanceRecord, 'instanceId'>;
        if (Number.isFinite(at)) records.push({ instanceId, at, snapshot: snapshot ?? {} });
      } catch {
        this.logger.warn({ msg: 'ignoring a malformed instance record', instanceId });
      }
    }
    return records;
  }

  private async beat(): Promise<void> {
    if (this.redis.commands.status !== 'ready') return;
    try {
      await this.redis.commands.hset(this.key, this.instanceId, JSON.stringify({ at: Date.now(), snapshot: this.snapshotSource() }));
      // Whoever deals with departed instances forgets them; without anyone (no webhooks), an hour does.
      const forgotten = (await this.departed()).filter((record) => Date.now() - record.at > FORGET_AFTER_MS).map((record) => record.instanceId);
      if (forgotten.length > 0) await this.redis.commands.hdel(this.key, ...forgotten);
    } catch (error) {
      this.logger.debug({ msg: 'instance beat skipped', error: (error as Error).message });
    }
  }
}
