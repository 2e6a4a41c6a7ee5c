import { DynamicModule, Global, Module } from '@nestjs/common';
import { GatewayConfig } from '../config/gateway-config.js';
import { RedisConnections } from './redis-connections.js';

/**
 * Provides RedisConnections when REDIS_URL is set, and `null` otherwise: consumers choose their
 * in-memory or Redis implementation from it.
 */
@Global()
@Module({})
export class RedisModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: RedisModule,
      providers: [
        {
          provide: RedisConnections,
          useFactory: async () => (config.redis ? RedisConnections.create(config.redis, config.redisKeyPrefix) : null),
        },
      ],
      exports: [RedisConnections],
    };
  }
}
