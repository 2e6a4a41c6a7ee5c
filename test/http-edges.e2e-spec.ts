import { Role } from '@arbor/gateway-client/protocol';
import { API_KEYS, READ_SECRET, WRITE_SECRET } from './support/api-client.js';
import { GatewayProcess } from './support/gateway-process.js';
import { GatewayHarness } from './support/gateway-harness.js';
import { waitForAsync } from './support/ports.js';
import { SHARED_REDIS_URL, deletePrefix, uniquePrefix } from './support/redis.js';
import { TestPeer } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

const SECRET = 'http-edges-test-secret-at-least-32-characters';
/** A key id with dots: API_KEYS allows them, so sign-in must too. */
const DOTTED_KEYS = `${API_KEYS},team.backend.v2:dotted-key-secret-that-is-at-least-32-chars:write`;
const CONSOLE_HEADERS = { 'content-type': 'application/json', 'x-arbor-console': '1' };

/** JSON nested `levels` deep: far past the depth cap, far under the 100 KB body limit. */
const deepJson = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

const BODY_ROUTES: Array<[path: string, headers: Record<string, string>]> = [
  ['/api/v1/daemons/d1/commands', { authorization: `Bearer ${WRITE_SECRET}` }],
  ['/api/v1/disconnect', { authorization: `Bearer ${WRITE_SECRET}` }],
  ['/auth/token', { authorization: `Bearer ${WRITE_SECRET}` }],
  ['/auth/revocations', { authorization: `Bearer ${WRITE_SECRET}` }],
  ['/console/login', { 'x-arbor-console': '1' }],
];

const ROUTES: Array<[method: string, path: string]> = [
  ['GET', '/health'],
  ['GET', '/health/live'],
  ['GET', '/health/ready'],
  ['GET', '/metrics'],
  ['POST', '/auth/token'],
  ['POST', '/auth/revocations'],
  ['GET', '/api/v1/daemons'],
  ['GET', '/api/v1/daemons/d1'],
  ['GET', '/api/v1/daemons/d1/viewers'],
  ['GET', '/api/v1/daemons/d1/events'],
  ['POST', '/api/v1/daemons/d1/commands'],
  ['POST', '/api/v1/disconnect'],
  ['GET', '/api/v1/stats'],
  ['GET', '/api/v1/openapi.json'],
  ['GET', '/console'],
  ['GET', '/console/session'],
  ['POST', '/console/login'],
  ['POST', '/console/logout'],
  ['GET', '/no/such/route'],
];

const MALFORMED_COOKIES = ['arbor_console=%', 'arbor_console=%C0%AF', 'arbor_console=%E0%A4%A', 'arbor_console', '=;;=%;arbor_console=a.b'];

/** What a stranger can send: each answers a documented 4xx (or the route's own 2xx), never a 5xx. */
const HOSTILE: Array<[label: string, init: { body?: string; headers?: Record<string, string> }]> = [
  ['bad JSON', { body: '{"a":', headers: { 'content-type': 'application/json' } }],
  ['deep JSON', { body: deepJson(3000), headers: { 'content-type': 'application/json' } }],
  [
    'wide JSON',
    { body: JSON.stringify(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]))), headers: { 'content-type': 'application/json' } },
  ],
  ['prototype keys', { body: '{"__proto__":{"admin":true},"constructor":{"prototype":{}}}', headers: { 'content-type': 'application/json' } }],
  ['huge body', { body: `{"a":"${'x'.repeat(2 * 1024 * 1024)}"}`, headers: { 'content-type': 'application/json' } }],
  ['wrong content type', { body: 'type=run-task', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
  ['unknown content type', { body: '\u0000\u0001', headers: { 'content-type': 'application/octet-stream' } }],
  ['bad charset', { body: '{}', headers: { 'content-type': 'application/json; charset=klingon' } }],
  ['bad encoding', { body: '{}', headers: { 'content-type': 'application/json', 'content-encoding': 'zstd-of-doom' } }],
  ['malformed cookie', { headers: { cookie: 'arbor_console=%E0%A4%A' } }],
  ['bad bearer', { headers: { authorization: 'Bearer \u00ff%%%' } }],
  ['odd authorization', { headers: { authorization: 'Basic Og==' } }],
];

/** The documented error shape: `{statusCode, code, message}` with the answer's own status. */
function expectErrorShape(status: number, body: any): void {
  expect(body).toEqual(expect.objectContaining({ statusCode: status, code: expect.any(String), message: expect.any(String) }));
}

describe('HTTP edges: hostile input never answers 5xx, logs no stack, and keeps the documented shape', () => {
  let gateway: GatewayProcess;
  let base: string;

  beforeAll(async () => {
    gateway = new GatewayProcess({
      WEBSOCKET_PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET: SECRET,
      LOG_LEVEL: 'info',
      API_KEYS: DOTTED_KEYS,
      AUTH_API_KEY: WRITE_SECRET,
      CONSOLE_ENABLED: 'true',
      API_RATE_PER_KEY: '100000',
      API_BURST_PER_KEY: '100000',
    });
    base = `http://127.0.0.1:${await gateway.listening()}`;
  });

  afterAll(() => gateway?.kill('SIGKILL'));

  /** No line of the gateway's log holds a stack trace, or an error line at all. */
  const expectQuietLog = () => {
    const lines = gateway.logLines();
    expect(lines.filter((line) => JSON.stringify(line).includes('    at '))).toEqual([]);
    expect(lines.filter((line) => line.level === 'error')).toEqual([]);
  };

  it.each(BODY_ROUTES)('a body nested thousands deep on %s answers 400 validation_failed', async (path, headers) => {
    // 17 levels is the envelope and 16 below it, as a frame may nest; one more is refused.
    for (const levels of [18, 2000, 2500, 5000]) {
      const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: deepJson(levels) });
      expect(response.status).toBe(400);
      const body = await response.json();
      expectErrorShape(400, body);
      expect(body).toMatchObject({ code: 'validation_failed', message: 'JSON nests deeper than 16 levels' });
    }
    expectQuietLog();
  });

  it('a frame nested thousands deep answers the bad_request error frame, and the connection serves on', async () => {
    const peer = new TestPeer(`ws://${new URL(base).host}/ws?token=${signToken(SECRET, { sub: 'deep-daemon', role: Role.Daemon })}`);
    try {
      await peer.next('connected');
      peer.send(`{"type":"heartbeat","id":"deep","payload":${deepJson(3000)}}`);
      const error = await peer.next((frame) => frame.type === 'error' && frame.id === 'deep');
      expect(error.payload).toMatchObject({ code: 'bad_request' });
      peer.send({ type: 'no-such-type', id: 'after', payload: {} });
      const next = await peer.next((frame) => frame.type === 'error' && frame.id === 'after');
      expect(next.payload).toMatchObject({ code: 'unknown_type' });
    } finally {
      peer.terminate();
    }
  });

  it.each(['__proto__', 'constructor', 'prototype'])('a body with a %s key is refused, never silently dropped', async (key) => {
    const command = `{"type":"cancel-task","id":"c-${key}","userId":"u1","payload":{"taskId":"t1"},"${key}":{"admin":true}}`;
    const disconnect = `{"userId":"u1","reason":"r","${key}":{"admin":true}}`;
    const nested = `{"type":"cancel-task","id":"c-${key}","userId":"u1","payload":{"taskId":"t1","${key}":{}}}`;
    for (const [path, body] of [
      ['/api/v1/daemons/d1/commands', command],
      ['/api/v1/disconnect', disconnect],
      ['/api/v1/daemons/d1/commands', nested],
    ]) {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${WRITE_SECRET}` },
        body,
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: 'validation_failed', message: `key "${key}" is not allowed`, field: key });
    }
  });

  it.each(MALFORMED_COOKIES)('the malformed session cookie %j is no session: 401 on every route that reads one', async (cookie) => {
    for (const path of ['/api/v1/daemons', '/api/v1/daemons/d1', '/api/v1/stats', '/console/session']) {
      const response = await fetch(`${base}${path}`, { headers: { cookie } });
      expect(response.status).toBe(401);
      expectErrorShape(401, await response.json());
    }
    const write = await fetch(`${base}/api/v1/disconnect`, { method: 'POST', headers: { cookie, ...CONSOLE_HEADERS }, body: '{"userId":"u","reason":"r"}' });
    expect(write.status).toBe(401);
    const logout = await fetch(`${base}/console/logout`, { method: 'POST', headers: { cookie, ...CONSOLE_HEADERS } });
    expect(logout.status).toBe(204);
    expectQuietLog();
  });

  it('a key id with dots signs in to the console, and its session works for the console and the API', async () => {
    const login = await fetch(`${base}/console/login`, {
      method: 'POST',
      headers: CONSOLE_HEADERS,
      body: JSON.stringify({ secret: 'dotted-key-secret-that-is-at-least-32-chars' }),
    });
    expect(login.status).toBe(200);
    expect(await login.json()).toEqual({ keyId: 'team.backend.v2', scope: 'write' });
    const session = login.headers.get('set-cookie')!.split(';')[0];
    const me = await fetch(`${base}/console/session`, { headers: { cookie: session } });
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ keyId: 'team.backend.v2', scope: 'write' });
    expect((await fetch(`${base}/api/v1/daemons`, { headers: { cookie: session } })).status).toBe(200);
  });

  it('a session cookie is parsed strictly: extra segments, another id or a changed expiry are refused', async () => {
    const login = await fetch(`${base}/console/login`, { method: 'POST', headers: CONSOLE_HEADERS, body: JSON.stringify({ secret: READ_SECRET }) });
    const value = decodeURIComponent(login.headers.get('set-cookie')!.split(';')[0].slice('arbor_console='.length));
    const [id, expires, mac] = value.split('.');
    expect((await fetch(`${base}/console/session`, { headers: { cookie: `arbor_console=${value}` } })).status).toBe(200);
    for (const forged of [
      `${value}.extra`,
      `${value}.`,
      `x.${value}`,
      `${id}.${expires}.${mac}.${mac}`,
      `${id}.${Number(expires) + 1}.${mac}`,
      `backend.${expires}.${mac}`,
      `${id}.0${expires}.${mac}`,
    ]) {
      const response = await fetch(`${base}/console/session`, { headers: { cookie: `arbor_console=${encodeURIComponent(forged)}` } });
      expect([forged, response.status]).toEqual([forged, 401]);
    }
  });

  it('every console answer, success or error, carries the security headers', async () => {
    const signedIn = await fetch(`${base}/console/login`, { method: 'POST', headers: CONSOLE_HEADERS, body: JSON.stringify({ secret: WRITE_SECRET }) });
    const cookie = signedIn.headers.get('set-cookie')!.split(';')[0];
    const answers: Array<[string, Response]> = [
      ['page', await fetch(`${base}/console`)],
      ['script', await fetch(`${base}/console/app.js`)],
      ['login 200', signedIn],
      ['login 401', await fetch(`${base}/console/login`, { method: 'POST', headers: CONSOLE_HEADERS, body: '{"secret":"wrong"}' })],
      ['login 400', await fetch(`${base}/console/login`, { method: 'POST', headers: CONSOLE_HEADERS, body: '{"secret":' })],
      ['login 403', await fetch(`${base}/console/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })],
      ['session 200', await fetch(`${base}/console/session`, { headers: { cookie } })],
      ['session 401', await fetch(`${base}/console/session`)],
      ['logout 204', await fetch(`${base}/console/logout`, { method: 'POST', headers: { ...CONSOLE_HEADERS, cookie } })],
      ['unknown 404', await fetch(`${base}/console/nothing-here`)],
    ];
    for (const [label, response] of answers) {
      expect([label, response.headers.get('content-security-policy')]).toEqual([label, expect.stringContaining("default-src 'none'")]);
      expect([label, response.headers.get('x-content-type-options')]).toEqual([label, 'nosniff']);
      expect([label, response.headers.get('referrer-policy')]).toEqual([label, 'no-referrer']);
    }
    expect(answers.map(([label, response]) => [label, response.status])).toEqual([
      ['page', 200],
      ['script', 200],
      ['login 200', 200],
      ['login 401', 401],
      ['login 400', 400],
      ['login 403', 403],
      ['session 200', 200],
      ['session 401', 401],
      ['logout 204', 204],
      ['unknown 404', 404],
    ]);
  });

  it('answers a malformed JSON body with the documented shape on every route, never the parser’s text', async () => {
    for (const [path, headers] of BODY_ROUTES) {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{"type": run-task}',
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ statusCode: 400, code: 'invalid_json', message: 'request body is not valid JSON' });
    }
  });

  it.each(HOSTILE)('sweep: %s on every route answers 4xx in the documented shape (or the route’s own answer), never 5xx', async (_label, init) => {
    for (const [method, path] of ROUTES) {
      const response = await fetch(`${base}${path}`, { method, headers: init.headers, body: method === 'GET' ? undefined : init.body });
      const text = await response.text();
      expect([method, path, response.status < 500]).toEqual([method, path, true]);
      if (response.status >= 400 && !path.startsWith('/health')) expectErrorShape(response.status, JSON.parse(text));
      expect(text).not.toMatch(/\n\s+at |RangeError|SyntaxError/);
    }
    expectQuietLog();
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
  });

  // Last: it spends this address's sign-in allowance.
  it('slows and counts repeated wrong console sign-ins from one address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i += 1) {
      const response = await fetch(`${base}/console/login`, { method: 'POST', headers: CONSOLE_HEADERS, body: JSON.stringify({ secret: `wrong-${i}` }) });
      statuses.push(response.status);
      if (response.status === 429) {
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(await response.json()).toMatchObject({ code: 'rate_limited' });
      }
    }
    // Ten attempts a burst (some spent by the tests above), then one every six seconds.
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.slice(-20)).toEqual(Array(20).fill(429));
    // Even the right key waits now: the limit is on the address, not on wrong guesses alone.
    const right = await fetch(`${base}/console/login`, { method: 'POST', headers: CONSOLE_HEADERS, body: JSON.stringify({ secret: WRITE_SECRET }) });
    expect(right.status).toBe(429);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(Number(/arbor_console_sign_ins_total\{outcome="throttled"\} (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(31);
    expect(Number(/arbor_console_sign_ins_total\{outcome="refused"\} (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(1);
    const refusals = gateway.logLines().filter((line) => line.msg === 'console sign-in refused');
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.every((line) => line.address === '127.0.0.1' || line.address === '::ffff:127.0.0.1')).toBe(true);
  });
});

describe.each([
  ['in memory', {}],
  ['on Redis', { REDIS_URL: SHARED_REDIS_URL }],
])('GET /api/v1/daemons/{id}/events with aged-out and trimmed history, %s', (_label, backing) => {
  const prefixes: string[] = [];
  const started: GatewayHarness[] = [];

  const start = async (env: Record<string, string>) => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const gateway = await GatewayHarness.start({ API_KEYS, API_RATE_PER_KEY: '1000', API_BURST_PER_KEY: '1000', ...backing, REDIS_KEY_PREFIX: prefix, ...env });
    started.push(gateway);
    return gateway;
  };

  afterAll(async () => {
    for (const gateway of started) await gateway.stop();
    if ('REDIS_URL' in backing) for (const prefix of prefixes) await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  /** Sends `count` file changes and waits until they are recorded; returns the last one's seq. */
  const sendEvents = async (gateway: GatewayHarness, daemon: TestPeer, daemonId: string, count: number): Promise<number> => {
    const until = (await recent(gateway, daemonId, 1)).stream.seq + count;
    for (let i = 0; i < count; i += 1) daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: `f${i}.txt`, event: 'change' } });
    await waitForAsync(async () => (await recent(gateway, daemonId, 1)).stream.seq === until, `seq ${until}`);
    return until;
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  const recent = async (gateway: GatewayHarness, daemonId: string, limit: number) => {
    const response = await fetch(`${gateway.httpUrl}/api/v1/daemons/${daemonId}/events?limit=${limit}`, {
      headers: { authorization: `Bearer ${WRITE_SECRET}` },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { stream: { seq: number }; historyStart: number; events: Array<{ seq: number }> };
  };

  it('returns the events still retained once older ones aged out, and says where history begins', async () => {
    const gateway = await start({ REPLAY_TTL_MS: '1000' });
    const daemon = await gateway.daemon('quiet');
    const first = await sendEvents(gateway, daemon, 'quiet', 10);
    expect((await recent(gateway, 'quiet', 20)).events.map((event) => event.seq)).toEqual(range(1, first));
    await new Promise((resolve) => setTimeout(resolve, 1300));
    const last = await sendEvents(gateway, daemon, 'quiet', 3);
    const answer = await recent(gateway, 'quiet', 20);
    expect(answer.events.map((event) => event.seq)).toEqual(range(first + 1, last));
    expect(answer.historyStart).toBe(first + 1);
    const two = await recent(gateway, 'quiet', 2);
    expect(two.events.map((event) => event.seq)).toEqual([last - 1, last]);
    expect(two.historyStart).toBe(first + 1);
    // Everything aged out: nothing to show, history begins after the last event.
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect(await recent(gateway, 'quiet', 20)).toMatchObject({ events: [], historyStart: last + 1, stream: { seq: last } });
  });

  it('returns the events still retained once REPLAY_MAX_EVENTS trimmed the history', async () => {
    const gateway = await start({ REPLAY_MAX_EVENTS: '30' });
    const daemon = await gateway.daemon('busy');
    const last = await sendEvents(gateway, daemon, 'busy', 200);
    const answer = await recent(gateway, 'busy', 100);
    const seqs = answer.events.map((event) => event.seq);
    // Redis trims with MAXLEN ~ (whole nodes at a time), so it may keep more than 30: never fewer.
    expect(seqs.length).toBeGreaterThanOrEqual(30);
    expect(seqs.length).toBeLessThan(last);
    expect(seqs).toEqual(range(last + 1 - seqs.length, last));
    expect(answer.historyStart).toBe(seqs[0]);
    const few = await recent(gateway, 'busy', 5);
    expect(few.events.map((event) => event.seq)).toEqual(range(last - 4, last));
    expect(few.historyStart).toBe(seqs[0]);
  });
});
