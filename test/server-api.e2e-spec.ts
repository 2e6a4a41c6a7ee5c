import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GatewayClient } from '@arbor/gateway-client';
import { CloseCode, parseRetryHint, Role } from '@arbor/gateway-client/protocol';
import WebSocket from 'ws';
import { parse } from '@readme/openapi-parser';
import { API_KEYS, ApiClient, READ_SECRET, WRITE_SECRET } from './support/api-client.js';
import { GatewayHarness, TEST_SECRET } from './support/gateway-harness.js';
import { waitForAsync } from './support/ports.js';
import type { TestPeer } from './support/test-peer.js';

const run = promisify(execFile);
const SIMULATOR = fileURLToPath(new URL('../dist/cli/daemon-sim.js', import.meta.url));

describe('server API, one instance', () => {
  let gateway: GatewayHarness;
  let api: ApiClient;

  beforeAll(async () => {
    gateway = await GatewayHarness.start({ API_KEYS, API_RATE_PER_KEY: '1000', API_BURST_PER_KEY: '1000' });
    api = new ApiClient(gateway.httpUrl);
  });

  afterAll(async () => {
    await gateway.stop();
  });

  it('answers 401 without a key or with an unknown one, 403 for a read key on a write route', async () => {
    const none = await api.with(null).get('/api/v1/daemons');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'unauthorized' });
    expect((await api.with('x'.repeat(40)).get('/api/v1/daemons')).status).toBe(401);
    expect((await api.with(READ_SECRET).get('/api/v1/daemons')).status).toBe(200);
    const forbidden = await api.with(READ_SECRET).post('/api/v1/disconnect', { userId: 'u', reason: 'test' });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ code: 'forbidden', message: 'key "ops" is read-only; this route needs a write key' });
  });

  it.each([
    ['limit', 'GET', '/api/v1/daemons?limit=0', undefined],
    ['limit', 'GET', '/api/v1/daemons?limit=1001', undefined],
    ['status', 'GET', '/api/v1/daemons?status=sleeping', undefined],
    ['cursor', 'GET', '/api/v1/daemons?cursor=%21%21', undefined],
    ['colour', 'GET', '/api/v1/daemons?colour=blue', undefined],
    ['type', 'POST', '/api/v1/daemons/d1/commands', { type: 'format-disk', id: 'c1', userId: 'u1', payload: {} }],
    ['payload.taskId', 'POST', '/api/v1/daemons/d1/commands', { type: 'run-task', id: 'c1', userId: 'u1', payload: { workspaceId: 'w', command: 'x' } }],
    ['payload.extra', 'POST', '/api/v1/daemons/d1/commands', { type: 'cancel-task', id: 'c1', userId: 'u1', payload: { taskId: 't', extra: 1 } }],
    ['id', 'POST', '/api/v1/daemons/d1/commands', { type: 'cancel-task', userId: 'u1', payload: { taskId: 't' } }],
    ['wait', 'POST', '/api/v1/daemons/d1/commands?wait=99999', { type: 'cancel-task', id: 'c1', userId: 'u1', payload: { taskId: 't' } }],
    ['userId', 'POST', '/api/v1/disconnect', { userId: 'u1', daemonId: 'd1', reason: 'two targets' }],
    ['reason', 'POST', '/api/v1/disconnect', { userId: 'u1' }],
    ['reconnect', 'POST', '/api/v1/disconnect', { userId: 'u1', reason: 'r', reconnect: 'yes' }],
  ])('400 naming %s: %s %s', async (field, method, path, body) => {
    const answer = await api.call(method, path, body);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ code: 'validation_failed', field });
    expect(typeof answer.body.message).toBe('string');
  });

  it('answers 404 for a daemon it never saw', async () => {
    for (const path of ['/api/v1/daemons/never-seen', '/api/v1/daemons/never-seen/viewers', '/api/v1/daemons/never-seen/events']) {
      const answer = await api.get(path);
      expect(answer.status).toBe(404);
      expect(answer.body).toMatchObject({ code: 'not_found', message: 'daemon "never-seen" is not known' });
    }
  });

  it('pages every daemon once in id order, filters by status and prefix', async () => {
    const daemons: TestPeer[] = [];
    for (let i = 0; i < 25; i += 1) daemons.push(await gateway.daemon(`page-${String(i).padStart(2, '0')}`));
    // Five go away: offline, still known.
    for (const daemon of daemons.slice(20)) daemon.close();
    await waitForAsync(async () => (await api.allDaemons('&prefix=page-&status=offline')).length === 5, 'five offline');

    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const answer: { body: any } = await api.get(`/api/v1/daemons?prefix=page-&limit=10${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(answer.body.items.map((item: any) => item.daemonId));
      cursor = answer.body.nextCursor;
    } while (cursor !== null);
    expect(pages.map((page) => page.length)).toEqual([10, 10, 5]);
    const expected = Array.from({ length: 25 }, (_, i) => `page-${String(i).padStart(2, '0')}`);
    expect(pages.flat()).toEqual(expected);

    const online = await api.allDaemons('&prefix=page-&status=online', 7);
    expect(online.map((item) => item.daemonId)).toEqual(expected.slice(0, 20));
    expect(online.every((item) => item.instance !== null && item.connectedAt !== null)).toBe(true);
    const offline = await api.allDaemons('&prefix=page-&status=offline', 2);
    expect(offline.map((item) => item.daemonId)).toEqual(expected.slice(20));
    expect(offline.every((item) => item.instance === null)).toBe(true);
    expect((await api.allDaemons('&prefix=page-1')).map((item) => item.daemonId)).toEqual(expected.slice(10, 20));
    for (const daemon of daemons) daemon.close();
  });

  it('describes a daemon: instance, heartbeat, workspaces and their statuses, stream head, viewers by user', async () => {
    const daemon = await gateway.daemon('described');
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: ['w1', 'w2'] } });
    daemon.send({ type: 'workspace-update', payload: { workspaceId: 'w1', status: 'syncing' } });
    daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'a.txt', event: 'change' } });
    const viewers = [await gateway.client('described', 'alice'), await gateway.client('described', 'alice'), await gateway.client('described', 'bob')];
    // Recorded: the status event on connect, the workspace update, the file change.
    await waitForAsync(async () => (await api.get('/api/v1/daemons/described')).body.stream.seq >= 3, 'three events recorded');

    const answer = await api.get('/api/v1/daemons/described');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      daemonId: 'described',
      status: 'online',
      workspaceIds: ['w1', 'w2'],
      workspaceStatuses: { w1: 'syncing', w2: 'unknown' },
      viewers: { connections: 3, users: 2 },
    });
    expect(answer.body.instance).toMatch(/\S+/);
    expect(Date.parse(answer.body.lastHeartbeat)).toBeGreaterThan(Date.now() - 60_000);
    expect(answer.body.stream.seq).toBeGreaterThanOrEqual(2);

    expect((await api.get('/api/v1/daemons/described/viewers')).body).toEqual({
      daemonId: 'described',
      viewers: [
        { userId: 'alice', connections: 2 },
        { userId: 'bob', connections: 1 },
      ],
    });
    viewers[2].close();
    await waitForAsync(async () => (await api.get('/api/v1/daemons/described/viewers')).body.viewers.length === 1, 'bob gone');

    const events = await api.get('/api/v1/daemons/described/events?limit=5');
    expect(events.body.events.map((event: any) => event.type)).toEqual(expect.arrayContaining(['workspace-update', 'file-change']));
    expect(events.body.events.at(-1).seq).toBe(events.body.stream.seq);
  });

  it('sends commands on a user’s behalf, at most once per id; daemon_offline when it is not connected', async () => {
    const daemon = await gateway.daemon('commanded');
    const run = { type: 'run-task', id: 'cmd-1', userId: 'carol', payload: { taskId: 't1', workspaceId: 'w1', command: 'build' } };
    expect((await api.post('/api/v1/daemons/commanded/commands', run)).body).toEqual({ status: 'accepted' });
    const forwarded = await daemon.next('run-task');
    expect(forwarded.payload).toEqual({ taskId: 't1', workspaceId: 'w1', command: 'build', userId: 'carol' });
    expect((await api.post('/api/v1/daemons/commanded/commands', run)).body).toEqual({ status: 'duplicate', outcome: 'accepted' });
    expect((await api.post('/api/v1/daemons/nobody-home/commands', { ...run, id: 'cmd-2' })).body).toEqual({ status: 'daemon_offline' });
    // The same ledger as clients: a client sending the API's command id is told it is a duplicate.
    const client = await gateway.client('commanded', 'carol');
    const reply = await client.next((frame) => frame.type === 'ack' || frame.type === 'error', 'ack', 100).catch(() => undefined);
    expect(reply).toBeUndefined();
    client.send({ type: 'run-task', id: 'cmd-1', payload: { taskId: 't1', workspaceId: 'w1', command: 'build' } });
    expect((await client.next('ack')).payload).toEqual({ status: 'duplicate', outcome: 'accepted' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(daemon.received.filter((frame) => frame.type === 'run-task')).toHaveLength(1);
  });

  it('?wait returns the daemon’s first task-status for the task, or null when none comes in time', async () => {
    const daemon = await gateway.daemon('waited');
    const answered = api.post('/api/v1/daemons/waited/commands?wait=5000', {
      type: 'run-task',
      id: 'wait-1',
      userId: 'dave',
      payload: { taskId: 'tw', workspaceId: 'w1', command: 'test' },
    });
    const command = await daemon.next('run-task');
    expect(command.id).toBe('wait-1');
    daemon.send({ type: 'command-ack', payload: { id: command.id } });
    daemon.send({ type: 'task-status', payload: { taskId: 'other', status: 'running' } });
    daemon.send({ type: 'task-status', payload: { taskId: command.payload.taskId, status: 'running', output: 'started' } });
    expect((await answered).body).toEqual({ status: 'accepted', delivery: 'delivered', taskStatus: { taskId: 'tw', status: 'running', output: 'started' } });

    // Neither confirmed nor answered within the wait: still waiting for the daemon.
    const silent = await api.post('/api/v1/daemons/waited/commands?wait=300', { type: 'cancel-task', id: 'wait-2', userId: 'dave', payload: { taskId: 'tw' } });
    expect(silent.body).toEqual({ status: 'accepted', delivery: 'accepted', taskStatus: null });
    // The waiters watched the daemon: they are gone, nobody is counted as watching.
    expect((await api.get('/api/v1/daemons/waited')).body.viewers).toEqual({ connections: 0, users: 0 });
  });

  it('disconnect with reconnect closes with 1012 and a retry hint; without, revokes and closes with 4403', async () => {
    const daemon = await gateway.daemon('kicked');
    const erin = await gateway.client('kicked', 'erin');
    const frank = await gateway.client('kicked', 'frank');
    const moved = await api.post('/api/v1/disconnect', { userId: 'erin', reason: 'moving you', reconnect: true });
    expect(moved.body).toEqual({ target: 'user', value: 'erin', reconnect: true, revoked: false });
    const movedClose = await erin.waitClosed();
    expect(movedClose.code).toBe(CloseCode.ServiceRestart);
    expect(parseRetryHint(movedClose.reason)).toBeGreaterThanOrEqual(0);

    const token = gateway.token(Role.Client, 'frank', { daemons: ['kicked'] });
    const kicked = await api.post('/api/v1/disconnect', { userId: 'frank', reason: 'account suspended' });
    expect(kicked.body).toEqual({ target: 'user', value: 'frank', reconnect: false, revoked: true });
    expect((await frank.waitClosed()).code).toBe(CloseCode.Forbidden);
    const again = await gateway.open(gateway.wsUrl({ daemonId: 'kicked', token }));
    expect((await again.waitClosed()).code).toBe(CloseCode.Forbidden);

    await api.post('/api/v1/disconnect', { daemonId: 'kicked', reason: 'rebalancing', reconnect: true });
    expect((await daemon.waitClosed()).code).toBe(CloseCode.ServiceRestart);
  });

  it('stats: connections by role and daemons by status, for the instance and in total', async () => {
    const daemon = await gateway.daemon('counted');
    const client = await gateway.client('counted', 'gina');
    const answer = await api.get('/api/v1/stats');
    expect(answer.status).toBe(200);
    expect(answer.body.instances).toHaveLength(1);
    const [instance] = answer.body.instances;
    expect(instance.connections.daemon).toBeGreaterThanOrEqual(1);
    expect(instance.connections.client).toBeGreaterThanOrEqual(1);
    expect(instance).toMatchObject({ draining: false, redis: 'off' });
    expect(answer.body.totals.instances).toBe(1);
    expect(answer.body.totals.connections).toEqual(instance.connections);
    expect(answer.body.totals.daemons.online).toBe(instance.daemons.online);
    expect(answer.body.totals.daemons.offline).toBeGreaterThanOrEqual(5);
    daemon.close();
    client.close();
  });

  it('serves a valid OpenAPI 3.1 document without a key', async () => {
    const answer = await api.with(null).get('/api/v1/openapi.json');
    expect(answer.status).toBe(200);
    expect(answer.body.openapi).toBe('3.1.0');
    const document = await parse(structuredClone(answer.body));
    expect(Object.keys(document.paths ?? {}).sort()).toEqual([
      '/api/v1/daemons',
      '/api/v1/daemons/{daemonId}',
      '/api/v1/daemons/{daemonId}/commands',
      '/api/v1/daemons/{daemonId}/events',
      '/api/v1/daemons/{daemonId}/viewers',
      '/api/v1/disconnect',
      '/api/v1/stats',
    ]);
    // API keys are opaque bearer secrets, not JWTs; every operation says it may answer 503 unavailable.
    expect(answer.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'API key' });
    const operations = Object.values(answer.body.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>).flatMap((path) =>
      Object.values(path),
    );
    expect(operations.length).toBeGreaterThanOrEqual(7);
    for (const operation of operations) expect(Object.keys(operation.responses)).toContain('503');
  });
});

describe('server API limits and switches', () => {
  it('is 404 everywhere without API_KEYS', async () => {
    const gateway = await GatewayHarness.start();
    try {
      for (const path of ['/api/v1/daemons', '/api/v1/stats', '/api/v1/openapi.json']) expect((await fetch(`${gateway.httpUrl}${path}`)).status).toBe(404);
    } finally {
      await gateway.stop();
    }
  });

  it('limits each key to its rate: 429 with Retry-After past the burst, other keys unaffected', async () => {
    const gateway = await GatewayHarness.start({ API_KEYS, API_RATE_PER_KEY: '5', API_BURST_PER_KEY: '10' });
    try {
      const api = new ApiClient(gateway.httpUrl, WRITE_SECRET);
      const answers = await Promise.all(Array.from({ length: 30 }, () => api.get('/api/v1/stats')));
      const limited = answers.filter((answer) => answer.status === 429);
      expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThanOrEqual(10);
      expect(limited.length).toBeGreaterThanOrEqual(15);
      expect(limited[0].body).toMatchObject({ code: 'rate_limited' });
      expect(Number(limited[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await api.with(READ_SECRET).get('/api/v1/stats')).status).toBe(200);
    } finally {
      await gateway.stop();
    }
  });
});

describe('docs/server-api.md, as written', () => {
  it('runs top to bottom: every curl block answers without an error, against a gateway with its API_KEYS, the simulator and a watcher', async () => {
    const page = readFileSync(new URL('../docs/server-api.md', import.meta.url), 'utf8');
    const blocks = [...page.matchAll(/```bash\n([\s\S]*?)```/g)].map((match) => match[1]);
    // The keys as the page makes them: the same commands, run here.
    const keys = await run('bash', ['-c', `${blocks[0].split('\n').slice(0, 1).join('\n')}\necho "$READ_KEY $WRITE_KEY"`], {});
    const [readKey, writeKey] = keys.stdout.trim().split(' ');
    expect(writeKey).toMatch(/^[0-9a-f]{48}$/);
    const gateway = await GatewayHarness.start({ API_KEYS: `ops:${readKey}:read,backend:${writeKey}:write` });
    const simulator = spawn(process.execPath, [SIMULATOR, '--daemon', 'daemon-123', '--workspaces', 'w1,w2', '--rate', '0', '--url', gateway.wsUrl()], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_SECRET },
      stdio: 'ignore',
    });
    const watcher = new GatewayClient({
      url: gateway.wsUrl(),
      daemonId: 'daemon-123',
      WebSocket,
      getToken: () => gateway.token(Role.Client, 'user-1', { daemons: ['daemon-123'] }),
      network: null,
    });
    try {
      await waitForAsync(async () => watcher.daemonStatus === 'online', 'the simulator online, as the watcher sees it');
      const curls = blocks.filter((block) => block.includes('curl'));
      expect(curls.length).toBeGreaterThanOrEqual(5);
      for (const block of curls) {
        const { stdout } = await run('bash', ['-c', `set -euo pipefail\n${block}`], {
          env: { PATH: process.env.PATH ?? '', GW: gateway.httpUrl, KEY: writeKey },
        });
        const answer = JSON.parse(stdout) as Record<string, unknown>;
        expect({ block, answer }).toEqual({ block, answer: expect.not.objectContaining({ statusCode: expect.anything() }) });
      }
    } finally {
      watcher.dispose();
      simulator.kill('SIGKILL');
      await gateway.stop();
    }
  });
});
