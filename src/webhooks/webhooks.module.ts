import { DynamicModule, Module } from '@nestjs/common';
import type { GatewayConfig } from '../config/gateway-config.js';
import { DaemonsModule } from '../daemons/daemons.module.js';
import { RedisConnections } from '../redis/redis-connections.js';
import { InMemoryWebhookStore } from './in-memory-webhook-store.js';
import { RedisWebhookStore } from './redis-webhook-store.js';
import { WebhookService } from './webhook.service.js';
import { WebhookStore } from './webhook-store.js';

/** Signed webhooks for daemon transitions; nothing at all without WEBHOOK_URL. */
@Module({})
export class WebhooksModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    if (!config.webhook) return { module: WebhooksModule };
    return {
      module: WebhooksModule,
      imports: [DaemonsModule],
      providers: [
        {
          provide: WebhookStore,
          inject: [RedisConnections],
          useFactory: (redis: RedisConnections | null) => (redis ? new RedisWebhookStore(redis) : new InMemoryWebhookStore()),
        },
        WebhookService,
      ],
    };
  }
}
