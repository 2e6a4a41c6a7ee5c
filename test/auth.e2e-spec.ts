import { Role } from '@arbor/gateway-client/protocol';
import { generateKeyPairSync } from 'node:crypto';
import { JwtService } from '@nestjs/jwt';
import WebSocket from 'ws';
import { GatewayHarness, TEST_SECRET } from './support/gateway-harness.js';
import { TestPeer } from './support/test-peer.js';
import { handcraftToken, nowSeconds } from './support/tokens.js';

async function expectRefused(peer: TestPeer, closeCode: number, errorCode: string): Promise<void> {
  const closed = await peer.waitClosed();
  expect(closed.code).toBe(closeCode);
  expect(peer.received).toEqual([{ type: 'error', payload: { code: errorCode, message: expect.any(String) } }]);
}

describe('connection authentication', () => {
  let gateway: GatewayHarness;
  let bystander: TestPeer;

  beforeAll(async () => {
    gateway = await GatewayHarness.start();
    await gateway.daemon('daemon-bystander');
    bystander = await gateway.client('daemon-bystander');
  });

  afterAll(async () => {
    await gateway.stop();
  });

  afterEach(async () => {
    // Every refusal leaves unrelated connections untouched.
    await bystander.assertAlive();
  });

  const clientClaims = (overrides: Record<string, unknown> = {}) => ({
    sub: 'user-1',
    role: 'client',
    daemons: ['daemon-1'],
    aud: 'arbor-gateway',
    iat: nowSeconds(),
    exp: nowSeconds() + 300,
    ...overrides,
  });

  it('refuses a connection without a token (4401)', async () => {
    await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1' })), 4401, 'unauthorized');
  });

  it('refuses a malformed token (4401)', async () => {
    await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token: 'not-a-jwt' })), 4401, 'unauthorized');
  });

  it('refuses an expired token (4401)', async () => {
    const token = gateway.token(Role.Client, 'user-1', { daemons: ['daemon-1'], claims: { iat: nowSeconds() - 400, exp: nowSeconds() - 100 } });
    const peer = await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token }));
    await expectRefused(peer, 4401, 'unauthorized');
    expect(peer.closeInfo?.reason).toBe('token expired');
  });

  it('accepts a token expired by less than the clock leeway', async () => {
    const token = gateway.token(Role.Client, 'user-1', { daemons: ['daemon-1'], claims: { iat: nowSeconds() - 290, exp: nowSeconds() - 10 } });
    const peer = await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token }));
    await peer.next('connected');
  });

  it('refuses a token whose lifetime exceeds 300 seconds (4401)', async () => {
    const token = gateway.token(Role.Client, 'user-1', { daemons: ['daemon-1'], ttlSeconds: 301 });
    const peer = await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token }));
    await expectRefused(peer, 4401, 'unauthorized');
    expect(peer.closeInfo?.reason).toBe('token lifetime exceeds 300 seconds');
  });

  it('refuses tokens without exp or iat (4401)', async () => {
    const { exp: _exp, ...noExp } = clientClaims();
    const { iat: _iat, ...noIat } = clientClaims();
    for (const claims of [noExp, noIat]) {
      const token = handcraftToken({ alg: 'HS256', typ: 'JWT' }, claims, TEST_SECRET);
      await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token })), 4401, 'unauthorized');
    }
  });

  it.each(['none', 'None', 'NONE'])('refuses alg %s (4401)', async (alg) => {
    const token = handcraftToken({ alg, typ: 'JWT' }, clientClaims());
    await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token })), 4401, 'unauthorized');
  });

  it('refuses a token signed with another secret (4401)', async () => {
    const token = gateway.token(Role.Client, 'user-1', { daemons: ['daemon-1'], secret: 'another-secret-that-is-also-32-chars-long!!' });
    await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token })), 4401, 'unauthorized');
  });

  it('refuses an edited payload (4401)', async () => {
    const [header, , signature] = gateway.token(Role.Client, 'user-1', { daemons: ['daemon-1'] }).split('.');
    const forged = Buffer.from(JSON.stringify(clientClaims({ daemons: ['daemon-1', 'daemon-admin'] }))).toString('base64url');
    await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-admin', token: `${header}.${forged}.${signature}` })), 4401, 'unauthorized');
  });

  it('refuses a wrong or missing audience (4401)', async () => {
    const wrong = gateway.token(Role.Client, 'user-1', { daemons: ['daemon-1'], audience: 'another-service' });
    await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token: wrong })), 4401, 'unauthorized');
    const { aud: _aud, ...noAud } = clientClaims();
    const missing = handcraftToken({ alg: 'HS256', typ: 'JWT' }, noAud, TEST_SECRET);
    await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token: missing })), 4401, 'unauthorized');
  });

  it('refuses a token with an unknown role (4401)', async () => {
    const token = handcraftToken({ alg: 'HS256', typ: 'JWT' }, clientClaims({ role: 'admin' }), TEST_SECRET);
    await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token })), 4401, 'unauthorized');
  });

  it('refuses a client token without that daemon in its claims (4403)', async () => {
    const token = gateway.token(Role.Client, 'user-1', { daemons: ['daemon-2'] });
    await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token })), 4403, 'forbidden');
  });

  it('refuses a client with an empty daemonId (4400); without one it is admitted as multiplexed', async () => {
    const token = gateway.token(Role.Client, 'user-1', { daemons: ['daemon-1'] });
    await expectRefused(await gateway.open(`${gateway.wsUrl({ token })}&daemonId=`), 4400, 'bad_request');
    const multiplexed = await gateway.open(gateway.wsUrl({ token }));
    expect((await multiplexed.next('connected')).payload).toMatchObject({ multiplexed: true });
  });

  it('refuses a daemon claiming another daemon id (4403)', async () => {
    const token = gateway.token(Role.Daemon, 'daemon-a');
    await expectRefused(await gateway.open(gateway.wsUrl({ daemonId: 'daemon-b', token })), 4403, 'forbidden');
  });

  it('accepts the token in an Authorization: Bearer header', async () => {
    const token = gateway.token(Role.Client, 'user-1', { daemons: ['daemon-1'] });
    const peer = await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1' }), { headers: { Authorization: `Bearer ${token}` } });
    expect((await peer.next('connected')).payload.daemonId).toBe('daemon-1');
  });

  it('answers upgrades on other paths with 404', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${gateway.port}/elsewhere`);
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      socket.on('open', () => reject(new Error('upgrade on an unknown path succeeded')));
      socket.on('error', () => undefined);
    });
    expect(status).toBe(404);
  });
});

describe('issuer and public-key verification', () => {
  it('checks iss when JWT_ISSUER is set', async () => {
    const gateway = await GatewayHarness.start({ JWT_ISSUER: 'https://auth.arbor.example' });
    try {
      const good = gateway.token(Role.Daemon, 'daemon-1', { issuer: 'https://auth.arbor.example' });
      await (await gateway.open(gateway.wsUrl({ token: good }))).next('connected');
      const wrong = gateway.token(Role.Daemon, 'daemon-2', { issuer: 'https://evil.example' });
      await expectRefused(await gateway.open(gateway.wsUrl({ token: wrong })), 4401, 'unauthorized');
      const missing = gateway.token(Role.Daemon, 'daemon-3');
      await expectRefused(await gateway.open(gateway.wsUrl({ token: missing })), 4401, 'unauthorized');
    } finally {
      await gateway.stop();
    }
  });

  it.each([
    ['RS256', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['ES256', () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' })],
  ] as const)('verifies %s tokens with JWT_PUBLIC_KEY and refuses HS256 signed with the public key', async (algorithm, generate) => {
    const { publicKey, privateKey } = generate();
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const gateway = await GatewayHarness.start({ JWT_SECRET: '', JWT_PUBLIC_KEY: publicPem });
    try {
      const jwt = new JwtService({});
      const claims = { sub: 'daemon-1', role: 'daemon', aud: 'arbor-gateway', iat: nowSeconds(), exp: nowSeconds() + 60 };
      const good = jwt.sign(claims, { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm });
      await (await gateway.open(gateway.wsUrl({ token: good }))).next('connected');
      // HS/RS confusion: an HMAC keyed with the public PEM must not verify.
      const confused = handcraftToken({ alg: 'HS256', typ: 'JWT' }, claims, publicPem);
      await expectRefused(await gateway.open(gateway.wsUrl({ token: confused })), 4401, 'unauthorized');
    } finally {
      await gateway.stop();
    }
  });
});
