import { JwtService } from '@nestjs/jwt';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloseCode, Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness, TEST_SECRET } from './support/gateway-harness.js';
import { TestPeer } from './support/test-peer.js';
import { handcraftToken, nowSeconds } from './support/tokens.js';
import { rawExchange, upgradeOutcome } from './support/upgrade.js';
import { waitForAsync } from './support/ports.js';

/**
 * Hostile input at every level — handshake, token, Origin, frame, message — each answered with
 * its documented HTTP status, close code or error frame. After every case the gateway still
 * serves an unrelated client: it answers a request and still relays its daemon's events.
 */

const jwt = new JwtService({});
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PUBLIC_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();

interface Bystanders {
  daemon: TestPeer;
  client: TestPeer;
  seq: number;
}

type Mint = (role: Role, sub: string, daemons?: string[]) => string;

/** A daemon and a client of it, unrelated to the hostile peers; `mint` signs their tokens for gateways without the test secret. */
async function bystanders(gateway: GatewayHarness, daemonId: string, mint?: Mint): Promise<Bystanders> {
  if (!mint) return { daemon: await gateway.daemon(daemonId), client: await gateway.client(daemonId, `${daemonId}-watcher`), seq: 0 };
  const daemon = await gateway.open(gateway.wsUrl({ token: mint(Role.Daemon, daemonId) }));
  await daemon.next('connected');
  const client = await gateway.open(gateway.wsUrl({ daemonId, token: mint(Role.Client, `${daemonId}-watcher`, [daemonId]) }));
  await client.next('connected');
  return { daemon, client, seq: 0 };
}

/** The unrelated pair still works end to end: a request is answered and an event is relayed. */
async function assertUnaffected(gateway: GatewayHarness, pair: Bystanders): Promise<void> {
  expect((await pair.client.request('get-workspace-status', { workspaceId: 'w-none' })).payload).toMatchObject({ code: 'not_found' });
  const path = `alive-${++pair.seq}.txt`;
  pair.daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path, event: 'change' } });
  await pair.client.next((frame) => frame.type === 'file-change' && frame.payload.path === path, `relayed ${path}`);
  expect((await fetch(`${gateway.httpUrl}/health/live`)).status).toBe(200);
}

async function expectClosed(peer: TestPeer, code: number, errorCode?: string): Promise<void> {
  const closed = await peer.waitClosed();
  expect(closed.code).toBe(code);
  // The error frame that comes with the close is the last one the peer got.
  if (errorCode) expect(peer.received.filter((frame) => frame.type === 'error').at(-1)?.payload.code).toBe(errorCode);
}

async function expectError(peer: TestPeer, frame: unknown, code: string): Promise<void> {
  const id = `hostile-${Math.random().toString(36).slice(2)}`;
  peer.send(typeof frame === 'string' ? frame : { ...(frame as object), id });
  const reply = await peer.next((received) => received.type === 'error' && (typeof frame === 'string' || received.id === id), `error ${code}`);
  expect(reply.payload.code).toBe(code);
  expect(peer.isOpen).toBe(true);
}

describe('security: HS256 gateway', () => {
  let gateway: GatewayHarness;
  let pair: Bystanders;

  beforeAll(async () => {
    gateway = await GatewayHarness.start({ JWT_CLOCK_TOLERANCE_SECONDS: '0' });
    pair = await bystanders(gateway, 'bystander');
  });
  afterEach(async () => assertUnaffected(gateway, pair));
  afterAll(async () => gateway.stop());

  const claims = (extra: Record<string, unknown> = {}) => ({
    sub: 'd-evil',
    role: 'daemon',
    aud: 'arbor-gateway',
    iat: nowSeconds(),
    exp: nowSeconds() + 60,
    ...extra,
  });
  const connectWith = (token: string, query: Record<string, string> = {}) => gateway.open(gateway.wsUrl({ token, ...query }));

  describe('tokens → 4401 unauthorized', () => {
    it.each(['none', 'None', 'NONE', 'nOnE'])('alg "%s" without a signature', async (alg) => {
      await expectClosed(await connectWith(handcraftToken({ alg, typ: 'JWT' }, claims())), 4401, 'unauthorized');
    });

    it('alg none carrying a valid HS256 signature', async () => {
      const valid = handcraftToken({ alg: 'HS256', typ: 'JWT' }, claims(), TEST_SECRET);
      const [, body, signature] = valid.split('.');
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      await expectClosed(await connectWith(`${header}.${body}.${signature}`), 4401, 'unauthorized');
    });

    it.each([
      ['signed with another secret', () => handcraftToken({ alg: 'HS256' }, claims(), 'another-secret-of-at-least-32-characters!!')],
      ['HS256 signed with an RSA public key PEM as the secret', () => handcraftToken({ alg: 'HS256' }, claims(), RSA_PUBLIC_PEM)],
      [
        'RS256 (this gateway holds a secret: only HS256)',
        () => jwt.sign(claims(), { privateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'RS256' }),
      ],
      ['a wrong aud', () => handcraftToken({ alg: 'HS256' }, claims({ aud: 'another-service' }), TEST_SECRET)],
      ['no aud', () => handcraftToken({ alg: 'HS256' }, claims({ aud: undefined }), TEST_SECRET)],
      ['nbf in the future', () => handcraftToken({ alg: 'HS256' }, claims({ nbf: nowSeconds() + 120 }), TEST_SECRET)],
      ['exp in the past', () => handcraftToken({ alg: 'HS256' }, claims({ iat: nowSeconds() - 100, exp: nowSeconds() - 10 }), TEST_SECRET)],
      ['no exp', () => handcraftToken({ alg: 'HS256' }, claims({ exp: undefined }), TEST_SECRET)],
      ['a lifetime over TOKEN_MAX_TTL_SECONDS', () => handcraftToken({ alg: 'HS256' }, claims({ exp: nowSeconds() + 3600 }), TEST_SECRET)],
      ['iat in the future', () => handcraftToken({ alg: 'HS256' }, claims({ iat: nowSeconds() + 120, exp: nowSeconds() + 180 }), TEST_SECRET)],
      ['an unknown role', () => handcraftToken({ alg: 'HS256' }, claims({ role: 'admin' }), TEST_SECRET)],
      [
        'a client token with more daemons than MAX_DAEMONS_PER_TOKEN',
        () => handcraftToken({ alg: 'HS256' }, claims({ role: 'client', daemons: Array.from({ length: 1025 }, (_, i) => i.toString(36)) }), TEST_SECRET),
      ],
      [
        'crit naming an extension we do not understand (RFC 7515 §4.1.11), signed with the real secret',
        () => handcraftToken({ alg: 'HS256', typ: 'JWT', crit: ['some-extension'], 'some-extension': true }, claims(), TEST_SECRET),
      ],
      ['an empty crit, signed with the real secret', () => handcraftToken({ alg: 'HS256', crit: [] }, claims(), TEST_SECRET)],
      ['garbage', () => 'not.a.token'],
      ['a 9 000-character token', () => `${'a'.repeat(9000)}.b.c`],
    ])('%s', async (_label, makeToken) => {
      await expectClosed(await connectWith(makeToken(), { daemonId: 'd-evil' }), 4401, 'unauthorized');
    });

    it('an edited payload (sub changed after signing)', async () => {
      const [header, , signature] = handcraftToken({ alg: 'HS256' }, claims({ sub: 'd-mine' }), TEST_SECRET).split('.');
      const edited = Buffer.from(JSON.stringify(claims({ sub: 'd-yours' }))).toString('base64url');
      await expectClosed(await connectWith(`${header}.${edited}.${signature}`), 4401, 'unauthorized');
    });

    it('a path-like kid is only a header field: it opens nothing', async () => {
      await expectClosed(
        await connectWith(handcraftToken({ alg: 'HS256', kid: '../../../../etc/passwd' }, claims(), 'wrong-secret-wrong-secret-wrong-secret!')),
        4401,
        'unauthorized',
      );
    });

    it('no token at all, and a malformed Authorization header', async () => {
      await expectClosed(await gateway.open(gateway.wsUrl({ daemonId: 'x' })), 4401, 'unauthorized');
      await expectClosed(await gateway.open(gateway.wsUrl({ daemonId: 'x' }), { headers: { authorization: 'Bearer' } }), 4401, 'unauthorized');
    });
  });

  describe('access → 4403 forbidden, and no enumeration', () => {
    it("daemon A claiming daemon B's id", async () => {
      await expectClosed(await connectWith(gateway.token(Role.Daemon, 'daemon-a'), { daemonId: 'bystander' }), 4403, 'forbidden');
    });

    it('a client naming a daemon it may not see gets the same answer whether that daemon exists or not', async () => {
      const token = gateway.token(Role.Client, 'nosy', { daemons: ['mine'] });
      const existing = await connectWith(token, { daemonId: 'bystander' });
      const missing = await connectWith(token, { daemonId: 'no-such-daemon' });
      await Promise.all([expectClosed(existing, 4403), expectClosed(missing, 4403)]);
      expect(existing.received).toEqual(missing.received);
      expect(existing.closeInfo).toEqual(missing.closeInfo);
    });

    it('a workspace of another daemon and one that does not exist get identical not_found answers', async () => {
      pair.daemon.send({ type: 'heartbeat', payload: { workspaceIds: ['w1'] } });
      await pair.daemon.assertAlive();
      const other = await gateway.daemon('other-daemon');
      other.send({ type: 'heartbeat', payload: { workspaceIds: ['secret-ws'] } });
      await other.assertAlive();
      const client = await gateway.client('bystander', 'curious');
      const [foreign, absent] = [
        await client.request('get-workspace-status', { workspaceId: 'secret-ws' }),
        await client.request('get-workspace-status', { workspaceId: 'nope-ws' }),
      ];
      expect({ ...foreign, id: undefined, payload: { ...foreign.payload, message: foreign.payload.message.replace('secret-ws', 'X') } }).toEqual({
        ...absent,
        id: undefined,
        payload: { ...absent.payload, message: absent.payload.message.replace('nope-ws', 'X') },
      });
      expect(foreign.payload.code).toBe('not_found');
    });
  });

  describe('frames', () => {
    it('a client frame over 64 KiB closes with 1009; a daemon may send it', async () => {
      const client = await gateway.client('bystander', 'big-sender');
      client.send({ type: 'ping', payload: { pad: 'x'.repeat(70 * 1024) } });
      await expectClosed(client, 1009, 'message_too_big');
      const daemon = await gateway.daemon('big-daemon');
      daemon.send({ type: 'task-status', payload: { taskId: 't', status: 'running', output: 'x'.repeat(70 * 1024) } });
      await daemon.assertAlive();
    });

    it('a daemon frame over MAX_PAYLOAD_BYTES closes with 1009', async () => {
      const daemon = await gateway.daemon('huge-daemon');
      daemon.send({ type: 'task-status', payload: { taskId: 't', status: 'running', output: 'x'.repeat(1024 * 1024 + 10) } });
      expect((await daemon.waitClosed()).code).toBe(1009);
    });

    it('a frame in 5 000 one-byte fragments is reassembled and answered', async () => {
      const client = await gateway.client('bystander', 'fragmenter');
      const text = JSON.stringify({ type: 'ping', id: 'fragmented' }).padEnd(5000, ' ');
      for (let i = 0; i < text.length; i += 1) client.socket.send(text[i], { fin: i === text.length - 1 });
      expect((await client.next((frame) => frame.id === 'fragmented', 'pong')).type).toBe('pong');
    });

    it('fragments adding up past the client cap close with 1009', async () => {
      const client = await gateway.client('bystander', 'fragment-flood');
      const chunk = 'x'.repeat(1024);
      for (let i = 0; i < 70; i += 1) client.socket.send(chunk, { fin: i === 69 });
      await expectClosed(client, 1009);
    });

    it('invalid UTF-8 in a text frame closes with 1007', async () => {
      const client = await gateway.client('bystander', 'bad-utf8');
      client.socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
      expect((await client.waitClosed()).code).toBe(CloseCode.InvalidPayload);
    });

    it('a binary frame → bad_request, connection kept', async () => {
      const client = await gateway.client('bystander', 'binary');
      client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
      expect((await client.next('error')).payload.code).toBe('bad_request');
      await client.assertAlive();
    });
  });

  describe('message shapes → bad_request / validation_failed, connection kept', () => {
    let client: TestPeer;
    let daemon: TestPeer;
    beforeAll(async () => {
      client = await gateway.client('bystander', 'shaper');
      daemon = await gateway.daemon('shaper-daemon');
    });

    const nest = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

    it.each([
      ['nesting 20 deep', () => `{"type":"ping","payload":{"a":${nest(20)}}}`],
      ['nesting 30 000 deep', () => `{"type":"ping","payload":{"a":${nest(30_000)}}}`],
      ['an array of 2 000 items', () => JSON.stringify({ type: 'ping', payload: { a: Array.from({ length: 2000 }, () => 0) } })],
      ['an object with 1 000 keys', () => JSON.stringify({ type: 'ping', payload: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])) })],
      ['__proto__ in the payload', () => '{"type":"get-workspace-status","payload":{"workspaceId":"w1","__proto__":{"polluted":true}}}'],
      ['__proto__ deep inside', () => '{"type":"ping","payload":{"a":[{"b":{"__proto__":{"polluted":true}}}]}}'],
      ['constructor.prototype', () => '{"type":"ping","payload":{"constructor":{"prototype":{"polluted":true}}}}'],
      ['__proto__ in the envelope', () => '{"type":"ping","__proto__":{"polluted":true}}'],
      ['an over-long id', () => JSON.stringify({ type: 'ping', id: 'i'.repeat(200) })],
      ['an over-long type', () => JSON.stringify({ type: 't'.repeat(100) })],
    ])('%s', async (_label, makeFrame) => {
      await expectError(client, makeFrame(), 'bad_request');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('a daemon sending 30 000-deep nesting (within its 1 MiB cap) is refused the same way', async () => {
      await expectError(daemon, `{"type":"ping","payload":{"a":${nest(30_000)}}}`, 'bad_request');
    });

    it.each([
      ['a path over 4 096 characters', { type: 'file-change', payload: { workspaceId: 'w1', path: 'p'.repeat(4097), event: 'change' } }],
      ['a workspace id over 128 characters', { type: 'file-change', payload: { workspaceId: 'w'.repeat(129), path: 'a', event: 'change' } }],
      ['a task id over 128 characters', { type: 'task-status', payload: { taskId: 't'.repeat(129), status: 'running' } }],
      ['an unknown event kind', { type: 'file-change', payload: { workspaceId: 'w1', path: 'a', event: 'explode' } }],
    ])('daemon: %s → validation_failed', async (_label, frame) => {
      await expectError(daemon, frame, 'validation_failed');
    });

    it.each(['file-change', 'task-status', 'workspace-update', 'heartbeat'])('daemon-only %s from a client → forbidden', async (type) => {
      await expectError(client, { type, payload: {} }, 'forbidden');
    });

    it.each(['run-task', 'cancel-task', 'get-workspace-status'])('client-only %s from a daemon → forbidden', async (type) => {
      await expectError(daemon, { type, payload: {} }, 'forbidden');
    });

    it('an unknown type → unknown_type', async () => {
      await expectError(client, { type: 'become-admin' }, 'unknown_type');
    });
  });

  describe('refresh-token on a live connection', () => {
    it("another subject's token closes with 4403", async () => {
      const client = await gateway.client('bystander', 'refresher');
      client.send({ type: 'refresh-token', id: 'r1', payload: { token: gateway.token(Role.Client, 'someone-else', { daemons: ['bystander'] }) } });
      await expectClosed(client, 4403, 'forbidden');
    });

    it("a token without access to the connection's daemon closes with 4403", async () => {
      const client = await gateway.client('bystander', 'narrowed');
      client.send({ type: 'refresh-token', id: 'r1', payload: { token: gateway.token(Role.Client, 'narrowed', { daemons: ['elsewhere'] }) } });
      await expectClosed(client, 4403, 'forbidden');
    });

    it.each([
      ['garbage', () => 'garbage'],
      [
        'alg none',
        () =>
          handcraftToken(
            { alg: 'none' },
            { sub: 'refresher2', role: 'client', daemons: ['bystander'], aud: 'arbor-gateway', iat: nowSeconds(), exp: nowSeconds() + 60 },
          ),
      ],
      [
        'an expired token',
        () => gateway.token(Role.Client, 'refresher2', { daemons: ['bystander'], claims: { iat: nowSeconds() - 100, exp: nowSeconds() - 5 } }),
      ],
    ])('%s → unauthorized, connection kept until its own deadline', async (_label, makeToken) => {
      const client = await gateway.client('bystander', 'refresher2');
      await expectError(client, { type: 'refresh-token', payload: { token: makeToken() } }, 'unauthorized');
      await client.assertAlive();
    });
  });
});

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
