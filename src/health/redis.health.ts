import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { RevocationList } from '../auth/revocation.list.js';
import { RedisConnections } from '../redis/redis-connections.js';

/** With REDIS_URL: down, with the reason, while either connection is not ready or this instance's channel is not heard yet. */
@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(RedisConnections) private readonly redis: RedisConnections | null,
    private readonly revocations: RevocationList,
  ) {}

  get isConfigured(): boolean {
    return this.redis !== null;
  }

  check(key = 'redis'): HealthIndicatorResult {
    const session = this.indicators.check(key);
    if (!this.redis) return session.up({ configured: false });
    if (!this.redis.isReady) return session.down({ reason: this.redis.problemDescription });
    if (!this.redis.ownChannelHeard) return session.down({ reason: 'own channel not heard yet (pub/sub subscription starting)' });
    // Connections are deferred (1013) until the shared revocation list is loaded.
    if (!this.revocations.isSynced) return session.down({ reason: 'revocation list not loaded yet (Redis unreachable since boot)' });
    return session.up({ instanceId: this.redis.instanceId });
  }
}
