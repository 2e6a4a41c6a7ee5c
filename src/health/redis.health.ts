import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { RedisConnections } from '../redis/redis-connections.js';

/** With REDIS_URL: down, with the reason, while either connection is not ready. */
@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(RedisConnections) private readonly redis: RedisConnections | null,
  ) {}

  get isConfigured(): boolean {
    return this.redis !== null;
  }

  check(key = 'redis'): HealthIndicatorResult {
    const session = this.indicators.check(key);
    if (!this.redis) return session.up({ configured: false });
    return this.redis.isReady ? session.up({ instanceId: this.redis.instanceId }) : session.down({ reason: this.redis.problemDescription });
  }
}
