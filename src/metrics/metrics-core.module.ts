import { Global, Module } from '@nestjs/common';
import { GatewayMetrics } from './gateway-metrics.js';

/** The registry, available everywhere that counts something. */
@Global()
@Module({ providers: [GatewayMetrics], exports: [GatewayMetrics] })
export class MetricsCoreModule {}
