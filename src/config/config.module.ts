import { DynamicModule, Global, Module } from '@nestjs/common';
import { GatewayConfig } from './gateway-config.js';

@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: GatewayConfig, useValue: config }], exports: [GatewayConfig] };
  }
}
