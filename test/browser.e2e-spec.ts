import { JwtService } from '@nestjs/jwt';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDemoServer } from './browser/demo-server.js';
import { GatewayProcess } from './support/gateway-process.js';
import { freePort } from './support/ports.js';

const SECRET = 'browser-test-secret-at-least-32-characters';
const CHROMIUM = '/usr/bin/chromium';
const SIMULATOR = fileURLToPath(new URL('../dist/cli/daemon-sim.js', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));

describe('DaemonConnectionStatus in headless Chromium against the real gateway', () => {
  let port: number;
  let gateway: GatewayProcess | undefined;
  let simulator: ChildProcess | undefined;
  let browser: Browser | undefined;
  let demo: Awaited<ReturnType<typeof startDemoServer>> | undefined;

  const startGateway = async () => {
    gateway = new GatewayProcess({ WEBSOCKET_PORT: String(port), HOST: '127.0.0.1', JWT_SECRET: SECRET, LOG_LEVEL: 'info' });
    await gateway.listening();
  };
  const startSimulator = () => {
    simulator = spawn(
      process.execPath,
      [SIMULATOR, '--daemon', 'daemon-123', '--workspaces', 'w1', '--rate', '2', '--url', `ws://127.0.0.1:${port}/ws`, '--quiet'],
      {
        env: { PATH: process.env.PATH ?? '', JWT_SECRET: SECRET },
        stdio: 'ignore',
      },
    );
  };
  const killSimulator = async () => {
    const exited = new Promise((resolve) => simulator!.once('exit', resolve));
    simulator!.kill('SIGKILL');
    await exited;
  };
  const statusText = (page: Page, text: string) => page.locator('[role="status"]', { hasText: text }).waitFor({ timeout: 15_000 });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    if (!existsSync(SIMULATOR)) throw new Error(`${SIMULATOR} is missing: run npm run build (npm test does)`);
    port = await freePort();
    const jwt = new JwtService({});
    demo = await startDemoServer(`ws://127.0.0.1:${port}/ws`, () => {
      const now = Math.floor(Date.now() / 1000);
      return jwt.sign(
        { sub: 'user-1', role: 'client', daemons: ['daemon-123'], aud: 'arbor-gateway', iat: now, exp: now + 300 },
        { secret: SECRET, algorithm: 'HS256' },
      );
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  });

  afterAll(async () => {
    simulator?.kill('SIGKILL');
    gateway?.kill('SIGKILL');
    await browser?.close();
    await demo?.close();
  });

  it('follows the daemon going offline and online, and the gateway restarting', async () => {
    await startGateway();
    startSimulator();
    const page = await browser!.newPage();
    await page.goto(demo!.url);
    const status = page.locator('[role="status"]');
    await statusText(page, 'Gateway: connected');
    await statusText(page, 'Daemon daemon-123: online');
    expect(await status.getAttribute('aria-live')).toBe('polite');

    await killSimulator();
    await statusText(page, 'Daemon daemon-123: offline');

    startSimulator();
    await statusText(page, 'Daemon daemon-123: online');

    gateway!.kill('SIGKILL');
    await gateway!.exited;
    await statusText(page, 'Gateway: reconnecting');
    expect(await status.textContent()).toContain('Daemon daemon-123: unknown');
    await startGateway();
    await statusText(page, 'Gateway: connected');
    await statusText(page, 'Daemon daemon-123: online');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}daemon-connection-status.png` });
    await page.close();
  });
});
