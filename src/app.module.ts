import { DynamicModule, Module } from '@nestjs/common';
import { ApiModule } from './api/api.module.js';
import { AuthModule } from './auth/auth.module.js';
import { ConsoleModule } from './console/console.module.js';
import { InstancesModule } from './instances/instances.module.js';
import { GatewayConfigModule } from './config/gateway-config.module.js';
import type { GatewayConfig } from './config/gateway-config.js';
import { DaemonsModule } from './daemons/daemons.module.js';
import { GatewayModule } from './gateway/gateway.module.js';
import { HealthModule } from './health/health.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { MetricsCoreModule } from './metrics/metrics-core.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { RedisModule } from './redis/redis.module.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';
import { WorkspacesModule } from './workspaces/workspaces.module.js';

@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        GatewayConfigModule.forRoot(config),
        LifecycleModule,
        MetricsCoreModule,
        RedisModule.forRoot(config),
        AuthModule,
        WorkspacesModule,
        DaemonsModule,
        GatewayModule,
        HealthModule,
        MetricsModule,
        InstancesModule,
        ApiModule,
        ConsoleModule,
        WebhooksModule.forRoot(config),
      ],
    };
  }
}
