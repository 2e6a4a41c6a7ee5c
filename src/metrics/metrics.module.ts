import { Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller.js';
import { MetricsRenderer } from './metrics.renderer.js';

@Module({
  controllers: [MetricsController],
  providers: [MetricsRenderer],
})
export class MetricsModule {}
