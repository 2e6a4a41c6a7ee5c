import { Injectable, type OnModuleInit } from '@nestjs/common';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { AcceptingHealthIndicator } from './accepting.health.js';
import { DaemonsHealthIndicator } from './daemons.health.js';
import { RedisHealthIndicator } from './redis.health.js';

/** `arbor_ready`: what `/health/ready` would answer, read at scrape time (1 for 200, 0 for 503). */
@Injectable()
export class ReadinessGauge implements OnModuleInit {
  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly accepting: AcceptingHealthIndicator,
    private readonly daemons: DaemonsHealthIndicator,
    private readonly redis: RedisHealthIndicator,
  ) {}

  onModuleInit(): void {
    this.metrics.sources.ready = () => (this.isReady() ? 1 : 0);
  }

  isReady(): boolean {
    const results = [this.accepting.check(), this.daemons.check(), ...(this.redis.isConfigured ? [this.redis.check()] : [])];
    return results.every((result) => Object.values(result).every((entry) => entry.status === 'up'));
  }
}
