import { Role } from '@arbor/gateway-client/protocol';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { API_KEYS, READ_SECRET, WRITE_SECRET } from './support/api-client.js';
import { GatewayProcess } from './support/gateway-process.js';
import { TestPeer } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

const SECRET = 'console-test-secret-at-least-32-characters';
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));

/** How wide the page is laid out (wider than the viewport: it scrolls sideways). Runs in the page. */
const pageWidth = () => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth;

/** The operator console in Debian's Chromium against the real gateway. */
describe('operator console in headless Chromium', () => {
  let gateway: GatewayProcess;
  let base: string;
  let browser: Browser;
  const peers: TestPeer[] = [];
  /** Every request the page makes, to prove it stays on the gateway's origin. */
  const requested: string[] = [];

  const daemon = async (daemonId: string) => {
    const peer = new TestPeer(`ws://127.0.0.1:${new URL(base).port}/ws?token=${signToken(SECRET, { sub: daemonId, role: Role.Daemon })}`);
    peers.push(peer);
    await peer.next('connected');
    peer.send({ type: 'heartbeat', payload: { workspaceIds: ['ws-main', 'ws-docs'] } });
    return peer;
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    gateway = new GatewayProcess({ WEBSOCKET_PORT: '0', HOST: '127.0.0.1', JWT_SECRET: SECRET, LOG_LEVEL: 'info', API_KEYS, CONSOLE_ENABLED: 'true' });
    base = `http://127.0.0.1:${await gateway.listening()}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    for (const peer of peers) peer.terminate();
    await browser?.close();
    gateway?.kill('SIGKILL');
  });

  it('serves the page with a Content-Security-Policy of its own origin only, and is 404 when off', async () => {
    const response = await fetch(`${base}/console`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect((await fetch(`${base}/console/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    const off = new GatewayProcess({ WEBSOCKET_PORT: '0', HOST: '127.0.0.1', JWT_SECRET: SECRET, LOG_LEVEL: 'info', API_KEYS });
    try {
      expect((await fetch(`http://127.0.0.1:${await off.listening()}/console`)).status).toBe(404);
    } finally {
      off.kill('SIGKILL');
    }
  });

  it('refuses a wrong key, and cookie writes without the CSRF header', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/console`);
    await page.fill('input[name="secret"]', 'not-a-key-but-long-enough-to-look-like-one');
    await page.click('button[type="submit"]');
    await page.getByRole('alert').filter({ hasText: 'That key is not known.' }).waitFor();
    await page.close();

    // A signed-in session's cookie alone does not allow a write: a cross-site form could send it.
    const login = await fetch(`${base}/console/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-arbor-console': '1' },
      body: JSON.stringify({ secret: WRITE_SECRET }),
    });
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^arbor_console=[^;]+; Path=\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    const session = cookie.split(';')[0];
    const forged = await fetch(`${base}/api/v1/disconnect`, {
      method: 'POST',
      headers: { cookie: session, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'x', reason: 'forged' }),
    });
    expect(forged.status).toBe(403);
    const crossSite = await fetch(`${base}/api/v1/disconnect`, {
      method: 'POST',
      headers: { cookie: session, 'content-type': 'application/json', 'x-arbor-console': '1', origin: 'https://evil.example' },
      body: JSON.stringify({ userId: 'x', reason: 'forged' }),
    });
    expect(crossSite.status).toBe(403);
    expect((await fetch(`${base}/api/v1/stats`, { headers: { cookie: session } })).status).toBe(200);
  });

  it('signs in, sees a daemon come online live, opens it, disconnects it and sees it go offline; nothing leaves the origin', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(`${base}/console`);
    await page.fill('input[name="secret"]', WRITE_SECRET);
    await page.click('button[type="submit"]');
    const online = page.getByTestId('online');
    await online.waitFor();
    expect(await online.textContent()).toBe('0');

    const peer = await daemon('console-daemon');
    peer.send({ type: 'workspace-update', payload: { workspaceId: 'ws-main', status: 'synced' } });
    peer.send({ type: 'file-change', payload: { workspaceId: 'ws-main', path: 'src/app.ts', event: 'change' } });
    await page.getByTestId('online').filter({ hasText: /^1$/ }).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${ARTIFACTS}console-overview.png`, fullPage: true });

    await page.click('a[href="#/daemons"]');
    await page.click('a[href="#/daemons/console-daemon"]');
    await page.getByTestId('daemon-status').filter({ hasText: 'online' }).waitFor();
    await page.getByText('ws-main: synced').waitFor();
    await page.getByText('src/app.ts').waitFor();
    await page.screenshot({ path: `${ARTIFACTS}console-daemon.png`, fullPage: true });

    await page.getByRole('button', { name: 'Disconnect and revoke its tokens' }).click();
    expect((await peer.waitClosed(5000)).code).toBe(4403);
    await page.getByTestId('daemon-status').filter({ hasText: 'offline' }).waitFor({ timeout: 10_000 });

    const origin = new URL(base).origin;
    expect(requested.length).toBeGreaterThan(5);
    expect(requested.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    await context.close();

    // The action is in the log with the key's id, as is the sign-in.
    const lines = gateway.logLines();
    expect(lines.some((line) => line.msg === 'console sign-in' && line.keyId === 'backend')).toBe(true);
    expect(lines.some((line) => line.msg === 'api disconnect' && line.keyId === 'backend' && line.target === 'daemon')).toBe(true);
    expect(gateway.stdout + gateway.stderr).not.toContain(WRITE_SECRET);
  });

  it('reads at phone width and wide: no sideways scroll, labelled charts (now, range, span), local and relative times; screenshots at 390 and 1280 px', async () => {
    await daemon('console-phone');
    for (const width of [390, 1280]) {
      const context = await browser.newContext({ viewport: { width, height: 844 } });
      const page = await context.newPage();
      await page.goto(`${base}/console`);
      await page.fill('input[name="secret"]', WRITE_SECRET);
      await page.click('button[type="submit"]');
      await page.getByTestId('online').waitFor();
      // A few samples: the charts fill from the right, and say what they show (rates to one decimal).
      const firstLine = page.locator('[data-testid="chart"] polyline').first();
      for (const deadline = Date.now() + 10_000; !(await firstLine.getAttribute('points'))?.includes(' ');) {
        if (Date.now() > deadline) throw new Error('the chart never got a second sample');
        await page.waitForTimeout(200);
      }
      const captions = await page.getByTestId('chart').locator('figcaption').allTextContents();
      expect(captions).toHaveLength(2);
      for (const caption of captions) expect(caption).toMatch(/^messages (in|out): \d+(\.\d)?\/s now · range \d+(\.\d)?–\d+(\.\d)?\/s · last \d+ s$/);
      const points = (await page.locator('[data-testid="chart"] polyline').first().getAttribute('points'))!.split(' ');
      expect(Number(points.at(-1)!.split(',')[0])).toBe(240);
      expect(await page.evaluate(pageWidth)).toBeLessThanOrEqual(width);
      await page.screenshot({ path: `${ARTIFACTS}console-overview-${width}.png`, fullPage: true });

      await page.goto(`${base}/console#/daemons/console-phone`);
      await page.getByTestId('daemon-status').filter({ hasText: 'online' }).waitFor();
      const times = await page.getByTestId('time').allTextContents();
      expect(times.length).toBeGreaterThanOrEqual(1);
      // The browser's zone and format, not the gateway's ISO string; and how long ago.
      for (const time of times) expect(time).toMatch(/^[^T]*\(\d+ (s|min|h|d) ago|just now\)$/);
      expect(await page.evaluate(pageWidth)).toBeLessThanOrEqual(width);
      await page.screenshot({ path: `${ARTIFACTS}console-daemon-${width}.png`, fullPage: true });
      await context.close();
    }
  });

  it('a read key sees the daemon but no actions', async () => {
    await daemon('read-only-view');
    const page = await browser.newPage();
    await page.goto(`${base}/console#/daemons/read-only-view`);
    await page.fill('input[name="secret"]', READ_SECRET);
    await page.click('button[type="submit"]');
    await page.getByTestId('daemon-status').filter({ hasText: 'online' }).waitFor();
    expect(await page.getByRole('button', { name: 'Disconnect and revoke its tokens' }).count()).toBe(0);
    await page.close();
  });
});
