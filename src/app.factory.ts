import 'reflect-metadata';
import type { Server as HttpServer } from 'node:http';
import { Logger, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { GatewayConfig } from './config/gateway-config.js';
import { consoleSecurityHeaders } from './console/console.controller.js';
import { ConnectionAdmission } from './gateway/connections/connection-admission.js';
import { DirectRoutes } from './gateway/dispatch/direct-routes.js';
import { FanoutBackpressure } from './gateway/flow/fanout-backpressure.js';
import { GatewayWsAdapter } from './gateway/dispatch/gateway-ws.adapter.js';
import { HttpErrorFilter } from './edge/http-error.filter.js';
import { IncompleteRequestGuard } from './gateway/http/incomplete-requests.js';
import { LifecycleState } from './lifecycle/lifecycle.state.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { JsonLogger } from './logging/json-logger.js';
import { startTracing } from './tracing/tracing.provider.js';

/** Builds the gateway without listening, so main.ts and the e2e tests boot the same app. */
export async function createGatewayApp(config: GatewayConfig): Promise<INestApplication> {
  const logger = new JsonLogger(config.logLevel, undefined, config.logFormat);
  await startTracing(config);
  if (config.tracing) logger.log({ msg: 'tracing on', exporter: config.tracing.exporter, serviceName: config.tracing.serviceName }, 'Tracing');
  const app = await NestFactory.create(AppModule.forRoot(config), { logger, bufferLogs: false, abortOnError: false });
  app.useWebSocketAdapter(
    new GatewayWsAdapter(app, {
      maxPayloadBytes: config.maxPayloadBytes,
      directRoutes: app.get(DirectRoutes),
      lifecycle: app.get(LifecycleState),
      metrics: app.get(GatewayMetrics),
      admission: app.get(ConnectionAdmission),
      fanout: app.get(FanoutBackpressure),
    }),
  );
  (app.getHttpAdapter().getInstance() as { disable(setting: string): void }).disable('x-powered-by');
  app.use(consoleSecurityHeaders);
  app.useGlobalFilters(new HttpErrorFilter());
  new IncompleteRequestGuard(
    {
      headersTimeoutMs: config.httpHeadersTimeoutMs,
      requestTimeoutMs: config.httpRequestTimeoutMs,
      maxTotal: config.maxIncompleteRequests,
      maxPerAddress: config.maxIncompleteRequestsPerIp,
    },
    app.get(GatewayMetrics),
  ).attach(app.getHttpServer() as HttpServer);
  if (config.jwt.kind === 'secret' && config.jwt.isDevelopmentSecret) {
    new Logger('Config').warn(
      'JWT_SECRET is not set: using the public DEVELOPMENT secret. Anyone can mint tokens for this gateway. Never run it like this in production.',
    );
  }
  return app;
}
