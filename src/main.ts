import { Logger } from '@nestjs/common';
import type { Server } from 'node:http';
import { createServer } from 'node:net';
import { createGatewayApp } from './app.factory.js';
import { ConfigError } from './config/validate-environment.js';
import { GatewayConfig } from './config/gateway-config.js';
import { stopTracing } from './tracing/tracing.provider.js';
import { DrainService } from './gateway/connections/drain.service.js';

async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = GatewayConfig.load();
  } catch (error) {
    if (error instanceof ConfigError) {
      // A person at a terminal reads the problems one per line; a log collector gets one JSON line
      // with the problems as an array.
      const report = process.stderr.isTTY
        ? `${error.message}\n`
        : JSON.stringify({ time: new Date().toISOString(), level: 'error', context: 'Config', msg: 'invalid configuration', problems: error.problems }) + '\n';
      process.stderr.write(report);
      process.exit(1);
    }
    throw error;
  }
  const app = await createGatewayApp(config);
  const logger = new Logger('Main');
  // Our own handlers rather than enableShutdownHooks: Nest re-raises the signal after closing,
  // so the process would die by signal instead of exiting 0.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ msg: 'second signal: exiting immediately', signal });
      process.exit(1);
    }
    stopping = true;
    logger.log({ msg: 'shutting down', signal });
    // Drain while every service (Redis, the sweep) is still up; Nest's close hooks tear them down.
    app
      .get(DrainService)
      .drain()
      .then(() => app.close())
      // The spans of the last moments are flushed to the collector before the process goes.
      .then(() => stopTracing())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ msg: 'shutdown failed', error: String(error) });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await listen(app, config);
  const address = (app.getHttpServer() as Server).address();
  logger.log({ msg: 'gateway listening', port: typeof address === 'object' && address ? address.port : config.port, path: '/ws', ...config.startupSummary });
}

/**
 * Listens once. A busy port is a person's mistake to fix (another gateway, or another program),
 * not something retrying mends: one line naming the port and the variable, then exit 1. (Watch
 * mode, `npm run dev:ws`, waits for the old process to exit before starting the new one.)
 */
async function listen(app: Awaited<ReturnType<typeof createGatewayApp>>, config: GatewayConfig): Promise<void> {
  // Asked first with a bare server: Nest would log the failure with its own line before ours.
  if (config.port !== 0 && !(await portIsFree(config.port, config.host))) {
    new Logger('Main').error({
      msg: `port ${config.port} is in use`,
      port: config.port,
      hint: 'another process listens on it (another gateway?): stop it, or set WEBSOCKET_PORT to a free port',
    });
    process.exit(1);
  }
  await app.listen(config.port, config.host);
}

function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

void main().catch((error: unknown) => {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', context: 'Main', msg: String(error) }) + '\n');
  process.exit(1);
});
