import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import { GatewayConfig } from '../config/gateway-config.js';
import { RedisConnections } from '../redis/redis-connections.js';
import { GatewayMetrics } from './gateway-metrics.js';

/**
 * Renders the registry, refreshing the gauges read from state at scrape time; serves it on
 * METRICS_PORT when that is set.
 */
@Injectable()
export class MetricsRenderer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server: Server | undefined;

  /** The Redis event counts already moved into the counter. */
  private readonly redisEventsSeen: Record<string, number> = {};

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly config: GatewayConfig,
    @Inject(RedisConnections) private readonly redis: RedisConnections | null,
  ) {
    if (redis) metrics.enableRedis();
  }

  async render(): Promise<{ contentType: string; body: string }> {
    if (this.redis) {
      this.metrics.redisUp.set(this.redis.isReady ? 1 : 0);
      for (const [event, count] of Object.entries(this.redis.events)) {
        const label = event === 'topologyChanges' ? 'topology_change' : event === 'reconnects' ? 'reconnect' : 'resubscribe';
        this.metrics.redisEvents.labels(label).inc(count - (this.redisEventsSeen[event] ?? 0));
        this.redisEventsSeen[event] = count;
      }
    }
    return { contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() };
  }

  async onApplicationBootstrap(): Promise<void> {
    const port = this.config.metricsPort;
    if (port === undefined) return;
    this.server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') return void response.writeHead(404).end();
      this.render().then(
        ({ contentType, body }) => response.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }).end(body),
        () => response.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(port, this.config.host, resolve));
    this.logger.log({ msg: 'metrics listening', port });
  }

  async onApplicationShutdown(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
