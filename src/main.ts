import { Logger } from '@nestjs/common';
import { createGatewayApp } from './app.factory.js';
import { ConfigError } from './config/environment.js';
import { GatewayConfig } from './config/gateway-config.js';

async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = GatewayConfig.load();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', context: 'Config', msg: error.message }) + '\n');
      process.exit(1);
    }
    throw error;
  }
  const app = await createGatewayApp(config);
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  new Logger('Main').log({ msg: 'gateway listening', port: typeof address === 'object' && address ? address.port : config.port, path: '/ws' });
}

void main().catch((error: unknown) => {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', context: 'Main', msg: String(error) }) + '\n');
  process.exit(1);
});
