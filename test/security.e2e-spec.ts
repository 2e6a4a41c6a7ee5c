import { JwtService } from '@nestjs/jwt';
import { generateKeyPairSync } from 'node:crypto';
import { CloseCode, Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness, TEST_SECRET } from './support/gateway-harness.js';
import { TestPeer } from './support/test-peer.js';
import { handcraftToken, nowSeconds } from './support/tokens.js';
import { assertUnaffected, bystanders, expectClosed, expectError, type Bystanders } from './support/hostile.js';

/**
 * Hostile input at every level — handshake, token, Origin, frame, message — each answered with
 * its documented HTTP status, close code or error frame. After every case the gateway still
 * serves an unrelated client: it answers a request and still relays its daemon's events.
 */

const jwt = new JwtService({});
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PUBLIC_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();

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
