import { Global, Module } from '@nestjs/common';
import { RedisConnections } from '../redis/redis-connections.js';
import { InMemoryInstanceRegistry, InstanceRegistry } from './instance-registry.js';
import { RedisInstanceRegistry } from './redis-instance-registry.js';

/** The registry of this deployment's instances: in Redis when shared, else just this one. */
@Global()
@Module({
  providers: [
    {
      provide: InstanceRegistry,
      inject: [RedisConnections],
      useFactory: (redis: RedisConnections | null) => (redis ? new RedisInstanceRegistry(redis) : new InMemoryInstanceRegistry()),
    },
  ],
  exports: [InstanceRegistry],
})
export class InstancesModule {}
