import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { RedisConnections } from '../redis/redis-connections.js';
import { ApiKeyGuard } from './api-keys/api-key.guard.js';
import { ApiKeyRegistry } from './api-keys/api-key.registry.js';
import { AuthController } from './auth.controller.js';
import { AuthService } from './auth.service.js';
import { RedisRevocationList } from './redis-revocation.list.js';
import { InMemoryRevocationList, RevocationList } from './revocation.list.js';
import { RevocationsController } from './revocations.controller.js';

@Module({
  // Keys and algorithms are passed on every call by AuthService, from GatewayConfig.
  imports: [JwtModule.register({})],
  controllers: [AuthController, RevocationsController],
  providers: [
    AuthService,
    ApiKeyRegistry,
    ApiKeyGuard,
    {
      provide: RevocationList,
      inject: [RedisConnections],
      useFactory: (redis: RedisConnections | null) => (redis ? new RedisRevocationList(redis) : new InMemoryRevocationList()),
    },
  ],
  exports: [AuthService, RevocationList, ApiKeyRegistry, ApiKeyGuard],
})
export class AuthModule {}
