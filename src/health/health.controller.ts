import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, MemoryHealthIndicator, type HealthCheckResult } from '@nestjs/terminus';
import { getHeapStatistics } from 'node:v8';
import { AcceptingHealthIndicator } from './accepting.health.js';
import { DaemonsHealthIndicator } from './daemons.health.js';
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
  ) {}

  /** Full status: daemon counts and sweep, heap, and whether connections are accepted. */
  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([
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
    return this.health.check([() => this.accepting.check(), () => this.daemons.check(), ...this.redisCheck()]);
  }

  private redisCheck() {
    return this.redis.isConfigured ? [() => this.redis.check()] : [];
  }
}
