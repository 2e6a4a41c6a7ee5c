import { Controller, Get, Header, NotFoundException, Res } from '@nestjs/common';
import { GatewayConfig } from '../config/gateway-config.js';
import { MetricsRenderer } from './metrics.renderer.js';

/** `GET /metrics` on the main port, unless METRICS_PORT moves it to a port of its own. */
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly renderer: MetricsRenderer,
    private readonly config: GatewayConfig,
  ) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  async metrics(@Res() response: { type(value: string): { send(body: string): void } }): Promise<void> {
    if (this.config.metricsPort !== undefined) throw new NotFoundException();
    const { contentType, body } = await this.renderer.render();
    response.type(contentType).send(body);
  }
}
