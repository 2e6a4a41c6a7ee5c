import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AuthModule } from '../auth/auth.module.js';
import { DaemonsModule } from '../daemons/daemons.module.js';
import { AcceptingHealthIndicator } from './accepting.health.js';
import { DaemonsHealthIndicator } from './daemons.health.js';
import { HealthController } from './health.controller.js';
import { HealthLog } from './health-log.js';
import { ReadinessGauge } from './readiness.gauge.js';
import { RedisHealthIndicator } from './redis.health.js';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), DaemonsModule, AuthModule],
  controllers: [HealthController],
  providers: [HealthLog, DaemonsHealthIndicator, AcceptingHealthIndicator, RedisHealthIndicator, ReadinessGauge],
})
export class HealthModule {}
