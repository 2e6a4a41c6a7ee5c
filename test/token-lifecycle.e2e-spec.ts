import WebSocket from 'ws';
import { ConnectionState, DaemonClient, GatewayClient, Role } from '@arbor/gateway-client';
import { GatewayHarness } from './support/gateway-harness.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { nowSeconds } from './support/tokens.js';
import { waitFor, waitForAsync } from './support/ports.js';

/**
 * Authorization after the handshake: a connection ends TOKEN_GRACE_MS after its token's exp unless
 * refreshed on the live connection; revocations close connections on every instance and keep the
 * revoked tokens out. Short tokens (2–3 s) and a short grace make both edges observable.
 */

const GRACE_MS = 300;
const API_KEY = 'lifecycle-api-key-0123456789';
const sleepUntil = (epochMs: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, epochMs - Date.now())));

const lifecyclePrefix = uniquePrefix();

describe.each([
  ['in memory', {}],
  ['on Redis', { REDIS_URL: SHARED_REDIS_URL, REDIS_KEY_PREFIX: lifecyclePrefix }],
])('token expiry and refresh on a live connection (%s)', (_label, extraEnv: Record<string, string>) => {
  let gateway: GatewayHarness;
  beforeAll(async () => {
    gateway = await GatewayHarness.start({ TOKEN_GRACE_MS: String(GRACE_MS), JWT_CLOCK_TOLERANCE_SECONDS: '0', ...extraEnv });
    await gateway.daemon('d1');
  });
  afterAll(async () => {
    await gateway.stop();
    if (extraEnv.REDIS_URL) await deletePrefix(SHARED_REDIS_URL, lifecyclePrefix);
  });

  const clientToken = (ttlSeconds: number, sub = 'u1') => gateway.token(Role.Client, sub, { daemons: ['d1'], ttlSeconds });

  it('connected carries authExpiresAt; the connection lives through exp + grace, then closes with 4401', async () => {
    const peer = await gateway.open(gateway.wsUrl({ daemonId: 'd1', token: clientToken(2) }));
    const connected = await peer.next('connected');
    const expiresAt = Date.parse(connected.payload.authExpiresAt);
    expect(expiresAt).toBeGreaterThan(Date.now());
    // Inner edge: past exp but inside the grace period, the connection still works.
    await sleepUntil(expiresAt + GRACE_MS / 3);
    await peer.assertAlive();
    // Outer edge: closed, and not before the grace period ended.
    const closed = await peer.waitClosed(GRACE_MS + 2000);
    const closedAt = Date.now();
    expect(closed.code).toBe(4401);
    expect(peer.received.filter((frame) => frame.type === 'error').at(-1)?.payload.code).toBe('unauthorized');
    expect(closedAt).toBeGreaterThanOrEqual(expiresAt + GRACE_MS - 5);
  });

  it("refresh-token extends the connection to the new token's exp, and it then ends there", async () => {
    const peer = await gateway.open(gateway.wsUrl({ daemonId: 'd1', token: clientToken(2, 'u2') }));
    const first = Date.parse((await peer.next('connected')).payload.authExpiresAt);
    const refreshed = await peer.request('refresh-token', { token: clientToken(3, 'u2') });
    expect(refreshed.type).toBe('token-refreshed');
    const second = Date.parse(refreshed.payload.authExpiresAt);
    expect(second).toBeGreaterThan(first);
    await sleepUntil(first + GRACE_MS + 200);
    await peer.assertAlive();
    const closed = await peer.waitClosed(second - Date.now() + GRACE_MS + 2000);
    expect(closed.code).toBe(4401);
    expect(Date.now()).toBeGreaterThanOrEqual(second + GRACE_MS - 5);
  });

  it('the SDK refreshes before expiry: GatewayClient and DaemonClient stay on one connection across several token lifetimes', async () => {
    const mint = (role: Role, sub: string) => () => gateway.token(role, sub, { daemons: role === Role.Client ? ['sdk-d'] : undefined, ttlSeconds: 2 });
    const url = `ws://127.0.0.1:${gateway.port}/ws`;
    const daemon = new DaemonClient({ url, WebSocket, getToken: mint(Role.Daemon, 'sdk-d'), network: null });
    const client = new GatewayClient({ url, daemonId: 'sdk-d', WebSocket, getToken: mint(Role.Client, 'sdk-u'), network: null });
    const opens = { daemon: 0, client: 0 };
    const refreshes = { daemon: 0, client: 0 };
    daemon.connection.on('open', () => (opens.daemon += 1));
    client.connection.on('open', () => (opens.client += 1));
    daemon.connection.on('tokenrefresh', () => (refreshes.daemon += 1));
    client.connection.on('tokenrefresh', () => (refreshes.client += 1));
    try {
      await waitFor(() => refreshes.daemon >= 3 && refreshes.client >= 3, 'three refreshes each', 15_000);
      expect(opens).toEqual({ daemon: 1, client: 1 });
      expect(client.state).toBe(ConnectionState.Open);
      // Still relaying on the refreshed connections.
      const seen = new Promise<string>((resolve) => client.on('file-change', (event) => resolve(event.payload.path)));
      daemon.fileChange('w1', 'after-refresh.txt', 'add');
      expect(await seen).toBe('after-refresh.txt');
    } finally {
      daemon.dispose();
      client.dispose();
    }
  });
});

describe('revocation across instances sharing Redis', () => {
  const prefix = uniquePrefix();
  const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_KEY_PREFIX: prefix, AUTH_API_KEY: API_KEY, JWT_CLOCK_TOLERANCE_SECONDS: '0' };
  let a: GatewayHarness;
  let b: GatewayHarness;

  beforeAll(async () => {
    [a, b] = await Promise.all([GatewayHarness.start(env), GatewayHarness.start(env)]);
  });
  afterAll(async () => {
    await Promise.all([a.stop(), b.stop()]);
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  const revoke = async (gateway: GatewayHarness, body: Record<string, string>, key = API_KEY) =>
    fetch(`${gateway.httpUrl}/auth/revocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
  const nextSecond = () => sleepUntil((nowSeconds() + 1) * 1000 + 5);

  it('POST /auth/revocations needs the API key and exactly one of userId, daemonId, tokenId', async () => {
    expect((await revoke(a, { userId: 'x' }, 'wrong-key-wrong-key')).status).toBe(401);
    // The same error shape and code as the server API's for a body naming none or two targets.
    for (const body of [{}, { userId: 'x', daemonId: 'y' }] as Array<Record<string, string>>) {
      const refused = await revoke(a, body);
      expect(refused.status).toBe(400);
      expect(await refused.json()).toEqual({ statusCode: 400, code: 'validation_failed', message: expect.any(String), field: 'userId' });
    }
    expect((await revoke(a, { userId: 'x'.repeat(200) })).status).toBe(400);
    expect((await revoke(a, { userId: 'x', extra: 'y' })).status).toBe(400);
  });

  it('revoking a user closes their connections on the other instance with 4403 and refuses their old tokens; newer tokens work', async () => {
    await a.daemon('rd1');
    const token = b.token(Role.Client, 'mallory', { daemons: ['rd1'] });
    const onB = await b.open(b.wsUrl({ daemonId: 'rd1', token }));
    await onB.next('connected');
    const bystander = await b.client('rd1', 'alice');

    const response = await revoke(a, { userId: 'mallory' });
    expect(response.status).toBe(201);
    const answer = (await response.json()) as { revokedAt: string; expiresAt: string };
    expect(answer).toMatchObject({ kind: 'user', value: 'mallory' });
    // ISO times, as POST /auth/token answers them.
    for (const time of [answer.revokedAt, answer.expiresAt]) expect(new Date(time).toISOString()).toBe(time);
    const closed = await onB.waitClosed(5000);
    expect(closed).toEqual({ code: 4403, reason: 'authorization revoked' });
    await bystander.assertAlive();

    for (const gateway of [a, b]) {
      const again = await gateway.open(gateway.wsUrl({ daemonId: 'rd1', token }));
      expect((await again.waitClosed()).code).toBe(4403);
    }
    await nextSecond();
    const fresh = await b.open(b.wsUrl({ daemonId: 'rd1', token: b.token(Role.Client, 'mallory', { daemons: ['rd1'] }) }));
    await fresh.next('connected');
  });

  it('revoking a token id closes that connection only, and the token is refused at refresh', async () => {
    const revoked = a.token(Role.Client, 'trent', { daemons: ['rd1'], claims: { jti: 'jti-revoked' } });
    const kept = a.token(Role.Client, 'trent', { daemons: ['rd1'], claims: { jti: 'jti-kept' } });
    const victim = await a.open(a.wsUrl({ daemonId: 'rd1', token: revoked }));
    const survivor = await b.open(b.wsUrl({ daemonId: 'rd1', token: kept }));
    await Promise.all([victim.next('connected'), survivor.next('connected')]);
    expect((await revoke(b, { tokenId: 'jti-revoked' })).status).toBe(201);
    expect((await victim.waitClosed(5000)).code).toBe(4403);
    await survivor.assertAlive();
    survivor.send({ type: 'refresh-token', id: 'r', payload: { token: revoked } });
    expect((await survivor.waitClosed()).code).toBe(4403);
  });

  it('revoking a daemon closes it and the clients watching it, everywhere', async () => {
    const daemon = await a.daemon('doomed');
    const watcher = await b.client('doomed', 'watcher');
    expect((await revoke(b, { daemonId: 'doomed' })).status).toBe(201);
    expect((await daemon.waitClosed(5000)).code).toBe(4403);
    expect((await watcher.waitClosed(5000)).code).toBe(4403);
  });

  it('an instance that starts after the revocation knows it', async () => {
    const token = a.token(Role.Client, 'late-revoked', { daemons: ['rd1'] });
    expect((await revoke(a, { userId: 'late-revoked' })).status).toBe(201);
    const c = await GatewayHarness.start(env);
    try {
      await waitForAsync(async () => (await fetch(`${c.httpUrl}/health/ready`)).status === 200, 'instance ready');
      const peer = await c.open(c.wsUrl({ daemonId: 'rd1', token }));
      expect((await peer.waitClosed()).code).toBe(4403);
    } finally {
      await c.stop();
    }
  });
});
