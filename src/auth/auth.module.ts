import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { ApiKeyGuard } from './api-key.guard.js';
import { AuthController } from './auth.controller.js';
import { AuthService } from './auth.service.js';
import { WsAuthGuard } from './ws-auth.guard.js';

@Module({
  // Keys and algorithms are passed on every call by AuthService, from GatewayConfig.
  imports: [JwtModule.register({})],
  controllers: [AuthController],
  providers: [AuthService, ApiKeyGuard, WsAuthGuard],
  exports: [AuthService, WsAuthGuard],
})
export class AuthModule {}
