import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DaemonStatus } from '@arbor/gateway-client/protocol';
import type { Counter, Gauge } from 'prom-client';
import { DaemonInspector } from '../daemons/daemon-inspector.js';
import { DaemonService } from '../daemons/daemon.service.js';
import { InstanceRegistry, type InstanceRecord } from '../instances/instance-registry.js';
import { LifecycleState } from '../lifecycle/lifecycle.state.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { RedisConnections } from '../redis/redis-connections.js';
import { ApiKeyRegistry } from '../auth/api-keys/api-key.registry.js';
import { ApiScope } from '../config/api-keys.js';
import type { InstanceStatsDto, StatsDto } from './dto/responses.js';

/** How often the per-second rates are sampled. */
const SAMPLE_EVERY_MS = 1_000;

type InstanceSnapshot = Omit<InstanceStatsDto, 'instanceId' | 'at'>;

/**
 * This instance's figures (sampled each second from its metrics, so rates are per second), carried
 * by its registry beat; /stats adds every live instance's up.
 */
@Injectable()
export class InstanceStats implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;
  private last = { at: Date.now(), messagesIn: 0, messagesOut: 0 };
  private current: InstanceSnapshot;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly registry: InstanceRegistry,
    private readonly lifecycle: LifecycleState,
    private readonly daemons: DaemonService,
    private readonly inspector: DaemonInspector,
    @Inject(RedisConnections) private readonly redis: RedisConnections | null,
    private readonly keys: ApiKeyRegistry,
  ) {
    this.current = this.emptySnapshot();
  }

  onModuleInit(): void {
    // Only /stats reads the figures: without API keys nothing is sampled.
    if (!this.keys.offers(ApiScope.Read)) return;
    this.registry.setSnapshotSource(() => ({ ...this.current }));
    void this.sample();
    this.timer = setInterval(() => void this.sample(), SAMPLE_EVERY_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Every live instance and the totals; `offline` counts known daemons connected nowhere. */
  async all(): Promise<StatsDto> {
    await this.sample();
    const records = await this.registry.live();
    const instances = records.map((record) => this.fromRecord(record));
    const add = (pick: (instance: InstanceStatsDto) => Record<string, number>) => {
      const sum: Record<string, number> = {};
      for (const instance of instances) for (const [key, value] of Object.entries(pick(instance))) sum[key] = (sum[key] ?? 0) + value;
      return sum;
    };
    const daemons = add((instance) => instance.daemons);
    const connected = (daemons[DaemonStatus.Online] ?? 0) + (daemons[DaemonStatus.Stale] ?? 0);
    const known = await this.inspector.known().catch(() => connected);
    return {
      instances,
      totals: {
        instances: instances.length,
        connections: add((instance) => instance.connections),
        daemons: {
          [DaemonStatus.Online]: daemons[DaemonStatus.Online] ?? 0,
          [DaemonStatus.Stale]: daemons[DaemonStatus.Stale] ?? 0,
          [DaemonStatus.Offline]: Math.max(0, known - connected),
        },
        messagesInPerSecond: round(instances.reduce((total, instance) => total + instance.messagesInPerSecond, 0)),
        messagesOutPerSecond: round(instances.reduce((total, instance) => total + instance.messagesOutPerSecond, 0)),
        slowConsumerCuts: instances.reduce((total, instance) => total + instance.slowConsumerCuts, 0),
        replays: add((instance) => instance.replays),
        draining: instances.filter((instance) => instance.draining).length,
      },
    };
  }

  private fromRecord(record: InstanceRecord): InstanceStatsDto {
    const snapshot = (record.instanceId === this.registry.instanceId ? this.current : record.snapshot) as Partial<InstanceSnapshot>;
    const empty = this.emptySnapshot();
    return { instanceId: record.instanceId, at: new Date(record.at).toISOString(), ...empty, ...snapshot };
  }

  private async sample(): Promise<void> {
    const now = Date.now();
    const [messagesIn, messagesOut, connections, slowCuts, replays] = await Promise.all([
      total(this.metrics.messagesIn),
      total(this.metrics.messagesOut),
      byLabel(this.metrics.connections, 'role'),
      total(this.metrics.slowConsumerCloses),
      byLabel(this.metrics.replays, 'outcome'),
    ]);
    const seconds = Math.max(0.001, (now - this.last.at) / 1000);
    // Rates from the last full sample; a sample asked for sooner (by /stats) keeps the previous rate.
    const fresh = now - this.last.at >= SAMPLE_EVERY_MS / 2;
    const health = this.daemons.healthSnapshot();
    this.current = {
      connections: { client: connections.client ?? 0, daemon: connections.daemon ?? 0 },
      daemons: { [DaemonStatus.Online]: health.online, [DaemonStatus.Stale]: health.stale },
      messagesInPerSecond: fresh ? round((messagesIn - this.last.messagesIn) / seconds) : this.current.messagesInPerSecond,
      messagesOutPerSecond: fresh ? round((messagesOut - this.last.messagesOut) / seconds) : this.current.messagesOutPerSecond,
      slowConsumerCuts: slowCuts,
      replays: { recovered: replays.recovered ?? 0, resync: replays.resync ?? 0 },
      draining: this.lifecycle.isShuttingDown,
      redis: this.redis === null ? 'off' : this.redis.isReady ? 'up' : 'down',
    };
    if (fresh) this.last = { at: now, messagesIn, messagesOut };
  }

  private emptySnapshot(): InstanceSnapshot {
    return {
      connections: { client: 0, daemon: 0 },
      daemons: { [DaemonStatus.Online]: 0, [DaemonStatus.Stale]: 0 },
      messagesInPerSecond: 0,
      messagesOutPerSecond: 0,
      slowConsumerCuts: 0,
      replays: { recovered: 0, resync: 0 },
      draining: false,
      redis: this.redis === null ? 'off' : 'down',
    };
  }
}

async function total(metric: Counter<string> | Gauge<string>): Promise<number> {
  return (await metric.get()).values.reduce((sum, entry) => sum + entry.value, 0);
}

async function byLabel(metric: Counter<string> | Gauge<string>, label: string): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const entry of (await metric.get()).values) {
    const key = String(entry.labels[label] ?? '');
    result[key] = (result[key] ?? 0) + entry.value;
  }
  return result;
}

const round = (value: number) => Math.round(value * 10) / 10;
