import { Module } from '@nestjs/common';
import { DaemonsModule } from '../daemons/daemons.module.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsRenderer } from './metrics.renderer.js';

@Module({
  imports: [DaemonsModule],
  controllers: [MetricsController],
  providers: [MetricsRenderer],
})
export class MetricsModule {}
