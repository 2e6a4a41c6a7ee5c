import { JwtService } from '@nestjs/jwt';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayHarness } from './support/gateway-harness.js';
import { assertUnaffected, bystanders, expectClosed, type Bystanders, type Mint } from './support/hostile.js';
import { handcraftToken, nowSeconds } from './support/tokens.js';

/**
 * Gateways that verify tokens with a public key or a JWKS endpoint: algorithm confusion, `alg:
 * none`, `crit`, `jku`/`x5u`, unknown kids, key rotation and an endpoint that never answers. After
 * every case the gateway still serves an unrelated client.
 */

const jwt = new JwtService({});
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PUBLIC_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe('security: RS256 public key gateway', () => {
  let gateway: GatewayHarness;
  let pair: Bystanders;
  const privatePem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const mint: Mint = (role, sub, daemons) =>
    jwt.sign(
      { sub, role, aud: 'arbor-gateway', iat: nowSeconds(), exp: nowSeconds() + 60, ...(daemons ? { daemons } : {}) },
      { privateKey: privatePem, algorithm: 'RS256' },
    );
  beforeAll(async () => {
    gateway = await GatewayHarness.start({ JWT_SECRET: '', JWT_PUBLIC_KEY: RSA_PUBLIC_PEM });
    pair = await bystanders(gateway, 'rsa-bystander', mint);
  });
  afterEach(async () => assertUnaffected(gateway, pair));
  afterAll(async () => gateway.stop());

  const claims = () => ({ sub: 'rsa-daemon', role: 'daemon', aud: 'arbor-gateway', iat: nowSeconds(), exp: nowSeconds() + 60 });

  it('admits an RS256 token signed with the private key', async () => {
    const peer = await gateway.open(gateway.wsUrl({ token: jwt.sign(claims(), { privateKey: privatePem, algorithm: 'RS256' }) }));
    await peer.next('connected');
  });

  it('refuses HS256 signed with the public key as the HMAC secret (algorithm confusion)', async () => {
    await expectClosed(await gateway.open(gateway.wsUrl({ token: handcraftToken({ alg: 'HS256' }, claims(), RSA_PUBLIC_PEM) })), 4401, 'unauthorized');
  });

  it('refuses alg none', async () => {
    await expectClosed(await gateway.open(gateway.wsUrl({ token: handcraftToken({ alg: 'none' }, claims()) })), 4401, 'unauthorized');
  });

  it('refuses an RS256 token with a crit header, signed with the private key', async () => {
    const token = jwt.sign(claims(), { privateKey: privatePem, algorithm: 'RS256', header: { alg: 'RS256', crit: ['b64'], b64: true } as never });
    await expectClosed(await gateway.open(gateway.wsUrl({ token })), 4401, 'unauthorized');
  });
});

describe('security: JWKS gateway', () => {
  const signing = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rotated = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = (key: typeof signing.publicKey, kid: string) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig' });
  let keys = [jwk(signing.publicKey, 'k1')];
  let jwksServer: Server;
  let attackerServer: Server;
  let jwksRequests = 0;
  let attackerRequests = 0;
  let gateway: GatewayHarness;
  let pair: Bystanders;

  const listen = (server: Server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  const claims = (sub = 'jwks-daemon') => ({ sub, role: 'daemon', aud: 'arbor-gateway', iat: nowSeconds(), exp: nowSeconds() + 60 });
  const es256 = (key: typeof signing.privateKey, header: Record<string, unknown>) =>
    jwt.sign(claims(), { privateKey: key.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'ES256', header: { alg: 'ES256', ...header } });

  beforeAll(async () => {
    jwksServer = createServer((_request, response) => {
      jwksRequests += 1;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys }));
    });
    attackerServer = createServer((_request, response) => {
      attackerRequests += 1;
      response.end(JSON.stringify({ keys: [{ ...attacker.publicKey.export({ format: 'jwk' }), kid: 'evil' }] }));
    });
    const port = await listen(jwksServer);
    await listen(attackerServer);
    gateway = await GatewayHarness.start({ JWT_SECRET: '', JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`, JWKS_REFETCH_MIN_INTERVAL_MS: '1000' });
    const signingPem = signing.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    pair = await bystanders(gateway, 'jwks-bystander', (role, sub, daemons) =>
      jwt.sign(
        { sub, role, aud: 'arbor-gateway', iat: nowSeconds(), exp: nowSeconds() + 300, ...(daemons ? { daemons } : {}) },
        { privateKey: signingPem, algorithm: 'ES256', header: { alg: 'ES256', kid: 'k1' } },
      ),
    );
  });
  afterEach(async () => assertUnaffected(gateway, pair));
  afterAll(async () => {
    await gateway.stop();
    jwksServer.close();
    attackerServer.close();
  });

  it('admits a token whose kid is in the key set (fetched at boot)', async () => {
    expect(jwksRequests).toBe(1);
    const peer = await gateway.open(gateway.wsUrl({ token: es256(signing.privateKey, { kid: 'k1' }) }));
    await peer.next('connected');
  });

  it("never follows jku or x5u: the attacker's key server is not asked, and its token is refused", async () => {
    const attackerUrl = `http://127.0.0.1:${(attackerServer.address() as AddressInfo).port}/keys`;
    const token = jwt.sign(claims(), {
      privateKey: attacker.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      algorithm: 'RS256',
      header: { alg: 'RS256', kid: 'evil', jku: attackerUrl, x5u: attackerUrl },
    });
    await expectClosed(await gateway.open(gateway.wsUrl({ token })), 4401, 'unauthorized');
    expect(attackerRequests).toBe(0);
  });

  it('unknown and path-like kids are refused, and refetch the key set at a bounded rate', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const before = jwksRequests;
    const kids = ['../../etc/passwd', 'nope', '%00', 'k'.repeat(300), ...Array.from({ length: 16 }, (_, i) => `random-${i}`)];
    const peers = await Promise.all(kids.map((kid) => gateway.open(gateway.wsUrl({ token: es256(signing.privateKey, { kid }) }))));
    for (const peer of peers) await expectClosed(peer, 4401, 'unauthorized');
    expect(jwksRequests - before).toBe(1);
  });

  it('picks up a rotated key once the refetch interval allows', async () => {
    keys = [jwk(signing.publicKey, 'k1'), jwk(rotated.publicKey, 'k2')];
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const peer = await gateway.open(gateway.wsUrl({ token: es256(rotated.privateKey, { kid: 'k2' }) }));
    await peer.next('connected');
  });
});

describe('security: JWKS endpoint that never answers', () => {
  it('boot and verification give up after JWKS_TIMEOUT_MS: the token is refused, nothing hangs', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer(() => undefined); // accepts, never responds
    silent.on('connection', (socket) => sockets.add(socket));
    const port = await new Promise<number>((resolve) => silent.listen(0, '127.0.0.1', () => resolve((silent.address() as AddressInfo).port)));
    const started = Date.now();
    const gateway = await GatewayHarness.start({
      JWT_SECRET: '',
      JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
      JWKS_TIMEOUT_MS: '300',
      JWKS_REFETCH_MIN_INTERVAL_MS: '1000',
    });
    try {
      expect(Date.now() - started).toBeLessThan(5_000);
      const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const token = jwt.sign(
        { sub: 'd', role: 'daemon', aud: 'arbor-gateway', iat: nowSeconds(), exp: nowSeconds() + 60 },
        { privateKey: key, algorithm: 'ES256', header: { alg: 'ES256', kid: 'k1' } },
      );
      await expectClosed(await gateway.open(gateway.wsUrl({ token })), 4401, 'unauthorized');
      // No token can be verified here, so there is no bystander pair: the process must still answer.
      expect((await fetch(`${gateway.httpUrl}/health/live`)).status).toBe(200);
    } finally {
      await gateway.stop();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
