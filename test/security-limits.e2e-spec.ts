import { Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness } from './support/gateway-harness.js';
import { rawExchange, upgradeOutcome } from './support/upgrade.js';
import { assertUnaffected, bystanders, expectClosed, type Bystanders } from './support/hostile.js';
import { waitForAsync } from './support/ports.js';

/**
 * The edges a stranger reaches before any token is checked, and the rates after: Origin, per-user
 * and per-instance caps, handshake and message rates, oversized and odd headers. After every case
 * the gateway still serves an unrelated client.
 */

describe('security: Origin, caps and rates', () => {
  let gateway: GatewayHarness;
  let pair: Bystanders;

  beforeAll(async () => {
    gateway = await GatewayHarness.start({
      ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:5173',
      MAX_CONNECTIONS_PER_USER: '3',
      CLIENT_MESSAGE_RATE: '20',
      CLIENT_MESSAGE_BURST: '40',
      DAEMON_MESSAGE_RATE: '400',
      DAEMON_MESSAGE_BURST: '50',
    });
    pair = await bystanders(gateway, 'bystander');
  });
  afterEach(async () => assertUnaffected(gateway, pair));
  afterAll(async () => gateway.stop());

  const clientUrl = (sub = 'origin-user') => gateway.wsUrl({ daemonId: 'bystander', token: gateway.token(Role.Client, sub, { daemons: ['bystander'] }) });

  it.each([
    ['https://app.example.com', 101],
    ['https://APP.example.com', 101],
    ['http://localhost:5173', 101],
    ['https://app.example.com.evil.com', 403],
    ['https://evil-app.example.com', 403],
    ['null', 403],
    ['http://app.example.com', 403],
    ['https://app.example.com:8443', 403],
    ['https://app.example.com.', 403],
    ['https://app.example.com@evil.com', 403],
    ['http://localhost:5174', 403],
    ['not an origin', 403],
  ])('Origin %s → %i', async (origin, status) => {
    expect((await upgradeOutcome(clientUrl(), { origin })).status).toBe(status);
  });

  it('no Origin (a daemon, a server) is not a browser: it passes to token checks', async () => {
    expect((await upgradeOutcome(gateway.wsUrl({ token: gateway.token(Role.Daemon, 'no-origin-daemon') }))).status).toBe(101);
  });

  it('a user over MAX_CONNECTIONS_PER_USER gets 429 with Retry-After before any upgrade', async () => {
    const held = await Promise.all([1, 2, 3].map(() => gateway.open(clientUrl('greedy'))));
    await Promise.all(held.map((peer) => peer.next('connected')));
    const refused = await upgradeOutcome(clientUrl('greedy'));
    expect(refused).toEqual({ status: 429, retryAfter: expect.stringMatching(/^\d+$/) });
    held[0].close();
    await held[0].closed;
    // A slot freed is a slot available again (once the TCP connection is gone).
    await waitForAsync(async () => (await upgradeOutcome(clientUrl('greedy'))).status === 101, 'a free slot', 3000);
  });

  it('a client over its message rate gets rate_limited with retryAfterMs, and one that keeps on is closed with 1008', async () => {
    const client = await gateway.open(clientUrl('flooder'));
    await client.next('connected');
    for (let i = 0; i < 45; i += 1) client.send({ type: 'ping', id: `p${i}` });
    const limited = await client.collect('error', 3);
    expect(limited[0]).toMatchObject({
      type: 'error',
      id: expect.stringMatching(/^p\d+$/),
      payload: { code: 'rate_limited', retryAfterMs: expect.any(Number) },
    });
    expect(limited[0].payload.retryAfterMs).toBeGreaterThan(0);
    expect(client.received.filter((frame) => frame.type === 'pong').length).toBeGreaterThanOrEqual(40);
    for (let i = 0; i < 100; i += 1) client.send({ type: 'ping' });
    await expectClosed(client, 1008, 'policy_violation');
  });

  it('a daemon over its message rate is slowed down, not refused: every event arrives, in order', async () => {
    const daemon = await gateway.daemon('fast-daemon');
    const client = await gateway.client('fast-daemon', 'fast-watcher');
    for (let i = 0; i < 300; i += 1) daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: `f${i}`, event: 'add' } });
    const events = await client.collect('file-change', 300, 10_000);
    expect(events.map((frame) => frame.payload.path)).toEqual(Array.from({ length: 300 }, (_, i) => `f${i}`));
    expect(daemon.received.some((frame) => frame.type === 'error')).toBe(false);
    const metrics = await (await fetch(`${gateway.httpUrl}/metrics`)).text();
    expect(Number(/arbor_rate_limited_messages_total\{role="daemon"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
  });

  it('500 headers are parsed like any request: upgraded, then closed as unauthorized (no token)', async () => {
    const headers = Array.from({ length: 500 }, (_, i) => `x-h${i}: v`).join('\r\n');
    const request = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${headers}\r\n\r\n`;
    const answer = await rawExchange(gateway.port, request);
    expect(answer).toMatch(/^HTTP\/1\.1 101/);
    expect(answer).toContain('"code":"unauthorized"');
  });

  it("2 000 small headers: parsed like any request on Node 20, refused with 431 by Node 22's HTTP layer (which counts header lines); the gateway serves on", async () => {
    const headers = Array.from({ length: 2000 }, (_, i) => `x-h${i}: v`).join('\r\n');
    const request = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${headers}\r\n\r\n`;
    const answer = await rawExchange(gateway.port, request);
    if (Number(process.versions.node.split('.')[0]) >= 22) expect(answer).toMatch(/^HTTP\/1\.1 431/);
    else {
      expect(answer).toMatch(/^HTTP\/1\.1 101/);
      expect(answer).toContain('"code":"unauthorized"');
    }
    const client = await gateway.client('after-headers', 'u-after-headers');
    expect(client.isOpen).toBe(true);
  });

  it('2 000 headers over the header size limit are refused by the HTTP layer with 431', async () => {
    const headers = Array.from({ length: 2000 }, (_, i) => `x-h${i}: ${'v'.repeat(20)}`).join('\r\n');
    const request = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${headers}\r\n\r\n`;
    expect(await rawExchange(gateway.port, request)).toMatch(/^HTTP\/1\.1 431/);
  });

  it('an upgrade on another path → 404, and a bad WebSocket version → 400', async () => {
    expect((await upgradeOutcome(`ws://127.0.0.1:${gateway.port}/admin`)).status).toBe(404);
    const request = `GET /ws?token=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 99\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    expect(await rawExchange(gateway.port, request)).toMatch(/^HTTP\/1\.1 (400|426)/);
  });
});

describe('security: instance cap and handshake rate', () => {
  it('past MAX_CONNECTIONS: 503 with Retry-After', async () => {
    const gateway = await GatewayHarness.start({ MAX_CONNECTIONS: '2' });
    try {
      const pair = await bystanders(gateway, 'cap-1');
      expect(await upgradeOutcome(gateway.wsUrl({ token: gateway.token(Role.Daemon, 'cap-3') }))).toEqual({
        status: 503,
        retryAfter: expect.stringMatching(/^\d+$/),
      });
      await assertUnaffected(gateway, pair);
    } finally {
      await gateway.stop();
    }
  });

  it('past HANDSHAKE_BURST_PER_IP: 429 with Retry-After, while established connections carry on', async () => {
    const gateway = await GatewayHarness.start({ HANDSHAKE_RATE_PER_IP: '1', HANDSHAKE_BURST_PER_IP: '3' });
    try {
      const pair = await bystanders(gateway, 'rate-daemon');
      const url = gateway.wsUrl({ token: gateway.token(Role.Daemon, 'rate-other') });
      const outcomes = [await upgradeOutcome(url), await upgradeOutcome(url), await upgradeOutcome(url)];
      expect(outcomes.map((outcome) => outcome.status)).toContain(429);
      expect(outcomes.find((outcome) => outcome.status === 429)?.retryAfter).toMatch(/^\d+$/);
      await assertUnaffected(gateway, pair);
    } finally {
      await gateway.stop();
    }
  });
});
