import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheck, HealthCheckService, MemoryHealthIndicator, type HealthCheckResult, type HealthIndicatorFunction } from '@nestjs/terminus';
import { getHeapStatistics } from 'node:v8';
import { AcceptingHealthIndicator } from './accepting.health.js';
import { DaemonsHealthIndicator } from './daemons.health.js';
import { HealthLog } from './health-log.js';
import { RedisHealthIndicator } from './redis.health.js';

/** Heap use past this share of V8's limit is reported down: the process is close to an OOM kill. */
const HEAP_LIMIT_SHARE = 0.9;

@Controller('health')
export class HealthController {
  private readonly heapThresholdBytes = Math.floor(getHeapStatistics().heap_size_limit * HEAP_LIMIT_SHARE);

  constructor(
    private readonly health: HealthCheckService,
    private readonly memory: MemoryHealthIndicator,
    private readonly daemons: DaemonsHealthIndicator,
    private readonly accepting: AcceptingHealthIndicator,
    private readonly redis: RedisHealthIndicator,
    private readonly log: HealthLog,
  ) {}

  /** Full status: daemon counts and sweep, heap, and whether connections are accepted. */
  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.checked('health', [
      () => this.accepting.check(),
      () => this.daemons.check(),
      () => this.memory.checkHeap('heap', this.heapThresholdBytes),
      ...this.redisCheck(),
    ]);
  }

  /** Liveness: answering at all proves the process is responsive. Stays up during shutdown. */
  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** Readiness: accepting connections, the event loop keeps the sweep on schedule, Redis (if used) reachable. */
  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.checked('ready', [() => this.accepting.check(), () => this.daemons.check(), ...this.redisCheck()]);
  }

  /** Runs a probe's checks and logs its failures by change (Terminus's own per-answer log is off). */
  private async checked(probe: string, checks: HealthIndicatorFunction[]): Promise<HealthCheckResult> {
    try {
      const result = await this.health.check(checks);
      this.log.passed(probe);
      return result;
    } catch (error) {
      if (error instanceof ServiceUnavailableException) this.log.failed(probe, (error.getResponse() as HealthCheckResult).error ?? {});
      throw error;
    }
  }

  private redisCheck() {
    return this.redis.isConfigured ? [() => this.redis.check()] : [];
  }
}
