import { Role } from '@arbor/gateway-client/protocol';
import { Redis } from 'ioredis';
import { GatewayProcess } from './support/gateway-process.js';
import { freePort, waitForAsync } from './support/ports.js';
import { deletePrefix, DisposableRedis, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { TestPeer } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

const SECRET = 'scale-out-test-secret-at-least-32-chars';
const TIMING = { DAEMON_STALE_MS: '600', DAEMON_TIMEOUT_MS: '1500', SWEEP_INTERVAL_MS: '50' };

class Instance {
  readonly process: GatewayProcess;
  port = 0;
  constructor(redisUrl: string, prefix: string) {
    this.process = new GatewayProcess({
      WEBSOCKET_PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET: SECRET,
      LOG_LEVEL: 'info',
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      ...TIMING,
    });
  }
  async started(): Promise<this> {
    this.port = await this.process.listening();
    return this;
  }
  /** Started and ready: it hears its own channel, so cross-instance commands reach it. */
  async ready(): Promise<this> {
    this.port = await this.process.ready();
    return this;
  }
  daemon(daemonId: string): TestPeer {
    return new TestPeer(`ws://127.0.0.1:${this.port}/ws?token=${signToken(SECRET, { sub: daemonId, role: Role.Daemon })}`);
  }
  client(daemonId: string, userId = 'user-1'): TestPeer {
    return new TestPeer(
      `ws://127.0.0.1:${this.port}/ws?daemonId=${daemonId}&token=${signToken(SECRET, { sub: userId, role: Role.Client, daemons: [daemonId] })}`,
    );
  }
  async health(path: string): Promise<{ status: number; body: any }> {
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`);
    return { status: response.status, body: await response.json() };
  }
}

async function connected(peer: TestPeer): Promise<TestPeer> {
  await peer.next('connected');
  return peer;
}

const statusesOf = (peer: TestPeer) => peer.received.filter((frame) => frame.type === 'daemon-status').map((frame) => frame.payload.status);

describe('three instances sharing Redis behave as one gateway', () => {
  const prefix = uniquePrefix();
  let instances: Instance[];
  const peers: TestPeer[] = [];
  const track = (peer: TestPeer) => (peers.push(peer), peer);

  beforeAll(async () => {
    instances = await Promise.all([0, 1, 2].map(() => new Instance(SHARED_REDIS_URL, prefix).ready()));
  });

  afterEach(() => {
    for (const peer of peers.splice(0)) peer.terminate();
  });

  afterAll(async () => {
    for (const instance of instances) instance.process.kill('SIGKILL');
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  it('every instance is ready with Redis up', async () => {
    for (const instance of instances) {
      const ready = await instance.health('/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.details.redis.status).toBe('up');
      const metrics = await (await fetch(`http://127.0.0.1:${instance.port}/metrics`)).text();
      expect(metrics).toMatch(/^arbor_redis_up 1$/m);
    }
  });

  it('a daemon on instance 1 reaches clients on instances 2 and 3: every event, in order', async () => {
    const clients = [track(await connected(instances[1].client('d-fanout'))), track(await connected(instances[2].client('d-fanout', 'user-2')))];
    const daemon = track(await connected(instances[0].daemon('d-fanout')));
    for (const client of clients) await client.next((frame) => frame.type === 'daemon-status' && frame.payload.status === 'online', 'online');
    const count = 3000;
    for (let i = 0; i < count; i += 1) daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: `f${i}`, event: 'change' } });
    for (const client of clients) {
      const events = await client.collect('file-change', count, 15_000);
      expect(events.map((frame) => frame.payload.path)).toEqual(Array.from({ length: count }, (_, i) => `f${i}`));
      expect(events.every((frame) => frame.daemonId === 'd-fanout')).toBe(true);
    }
  });

  it('get-workspace-status and run-task from instance 3 reach the daemon on instance 1', async () => {
    const daemon = track(await connected(instances[0].daemon('d-commands')));
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: ['w1'] } });
    daemon.send({ type: 'workspace-update', payload: { workspaceId: 'w1', status: 'syncing' } });
    await daemon.assertAlive();
    const client = track(await connected(instances[2].client('d-commands')));
    expect(client.received[0].payload).toMatchObject({ daemonStatus: 'online', workspaceIds: ['w1'] });
    expect((await client.request('get-workspace-status', { workspaceId: 'w1' })).payload).toEqual({ workspaceId: 'w1', status: 'syncing' });
    expect((await client.request('run-task', { taskId: 't1', workspaceId: 'w1', command: 'make' })).payload).toEqual({ status: 'accepted' });
    expect((await daemon.next('run-task')).payload).toEqual({ taskId: 't1', workspaceId: 'w1', command: 'make', userId: 'user-1' });
    const offline = track(await connected(instances[2].client('d-nobody')));
    expect((await offline.request('run-task', { taskId: 't2', workspaceId: 'w1', command: 'make' })).payload.status).toBe('daemon_offline');
  });

  it('run-task sent, link cut before the ack, retried through another instance: the daemon runs it once, the retry gets the original outcome', async () => {
    const daemon = track(await connected(instances[0].daemon('d-once')));
    const first = track(await connected(instances[1].client('d-once')));
    const command = { type: 'run-task', id: 'cmd-once-1', payload: { taskId: 't-once', workspaceId: 'w1', command: 'deploy' } };
    first.send(command);
    // The command reached the daemon; the link is cut before its ack is read (the ack is lost).
    await daemon.next('run-task');
    first.terminate();
    const retry = track(await connected(instances[2].client('d-once')));
    retry.send(command);
    expect(await retry.next('ack')).toEqual({ type: 'ack', id: 'cmd-once-1', payload: { status: 'duplicate', outcome: 'accepted' } });
    await daemon.assertAlive();
    expect(daemon.received.filter((frame) => frame.type === 'run-task')).toHaveLength(1);
  });

  it('a daemon connecting to instance 2 replaces its connection on instance 1 with 4409', async () => {
    const client = track(await connected(instances[2].client('d-replace')));
    const older = track(await connected(instances[0].daemon('d-replace')));
    await client.next((frame) => frame.type === 'daemon-status', 'online');
    const newer = track(await connected(instances[1].daemon('d-replace')));
    expect(await older.waitClosed()).toEqual({ code: 4409, reason: 'replaced by a newer connection' });
    expect((await client.request('run-task', { taskId: 't1', workspaceId: 'w1', command: 'ls' })).payload.status).toBe('accepted');
    expect((await newer.next('run-task')).payload.taskId).toBe('t1');
    expect(statusesOf(client)).toEqual(['online']);
  });

  it('SIGKILL of the instance holding a daemon: offline everywhere, then online again when it reconnects elsewhere', async () => {
    const victim = await new Instance(SHARED_REDIS_URL, prefix).ready();
    const daemon = track(await connected(victim.daemon('d-crash')));
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: [] } });
    const clients = [track(await connected(instances[1].client('d-crash'))), track(await connected(instances[2].client('d-crash', 'user-2')))];
    for (const client of clients) expect(client.received[0].payload.daemonStatus).toBe('online');
    victim.process.kill('SIGKILL');
    await victim.process.exited;
    for (const client of clients) {
      // Within DAEMON_TIMEOUT_MS (1.5 s here) of the crash, plus the margin of one test poll.
      await client.next((frame) => frame.type === 'daemon-status' && frame.payload.status === 'offline', 'offline', 2000);
    }
    track(await connected(instances[1].daemon('d-crash')));
    for (const client of clients) await client.next((frame) => frame.type === 'daemon-status' && frame.payload.status === 'online', 'online again');
  });

  it("every key the instances wrote sits under a daemon, instance, revocations, instances, daemons or webhooks hash tag, a daemon's keys findable by its id", async () => {
    const redis = new Redis(SHARED_REDIS_URL);
    try {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        keys.push(...found);
        cursor = next;
      } while (cursor !== '0');
      expect(keys.length).toBeGreaterThan(0);
      const outside = keys.filter((key) => !/^\{(d:[^}]+|i:[^}]+|revocations|instances|daemons|webhooks)\}:/.test(key.slice(prefix.length)));
      expect(outside).toEqual([]);
      // The earlier test's daemon d-crash: its stream, position and holder, all under {d:d-crash}.
      expect(keys.filter((key) => key.startsWith(`${prefix}{d:d-crash}:`)).map((key) => key.slice(`${prefix}{d:d-crash}:`.length))).toEqual(
        expect.arrayContaining(['stream', 'epoch', 'seq', 'holder']),
      );
    } finally {
      redis.disconnect();
    }
  });
});

describe('Redis faults', () => {
  const prefix = uniquePrefix();
  let redis: DisposableRedis;
  const processes: GatewayProcess[] = [];
  const peers: TestPeer[] = [];
  const track = (peer: TestPeer) => (peers.push(peer), peer);

  afterAll(async () => {
    for (const peer of peers) peer.terminate();
    for (const process of processes) process.kill('SIGKILL');
    await redis?.stop().catch(() => undefined);
  });

  it('unreachable at boot: starts, ready reports redis down with a reason, live stays up, connects when Redis appears', async () => {
    const port = await freePort();
    const instance = new Instance(`redis://127.0.0.1:${port}`, prefix);
    processes.push(instance.process);
    await instance.started();
    const ready = await instance.health('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.error.redis).toEqual({ status: 'down', reason: expect.stringContaining('ECONNREFUSED') });
    expect((await instance.health('/health/live')).status).toBe(200);
    // Several reconnect attempts and probes fail meanwhile: the log says what is wrong once, with what to check.
    for (let probe = 0; probe < 5; probe++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await instance.health('/health/ready')).status).toBe(503);
    }
    const told = instance.process.logLines().filter((line) => String(line.msg).startsWith('redis'));
    expect(told).toEqual([expect.objectContaining({ msg: 'redis unavailable', address: `127.0.0.1:${port}`, hint: expect.stringContaining('REDIS_URL') })]);
    const healthLines = () => instance.process.logLines().filter((line) => /health check/i.test(String(line.msg)));
    expect(healthLines()).toEqual([expect.objectContaining({ msg: 'health check failing', probe: 'ready', reasons: expect.stringContaining('ECONNREFUSED') })]);
    redis = await DisposableRedis.start(port);
    let status = 0;
    await waitForAsync(async () => (status = (await instance.health('/health/ready')).status) === 200, 'ready once Redis is up');
    expect(status).toBe(200);
    expect(
      healthLines()
        .map((line) => line.msg)
        .filter((msg) => msg !== 'health check failing'),
    ).toEqual(['health check passing again']);
    instance.process.kill('SIGKILL');
  });

  it('lost while running: no crash, local pairs keep working, cross-instance commands fail fast, recovery without restart', async () => {
    const [a, b] = await Promise.all([new Instance(redis.url, prefix).started(), new Instance(redis.url, prefix).started()]);
    processes.push(a.process, b.process);
    for (const instance of [a, b]) await waitForAsync(async () => (await instance.health('/health/ready')).status === 200, 'ready');
    const daemon = track(await connected(a.daemon('d-fault')));
    const local = track(await connected(a.client('d-fault')));
    const remote = track(await connected(b.client('d-fault', 'user-2')));
    daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'before', event: 'add' } });
    await remote.next((frame) => frame.type === 'file-change' && frame.payload.path === 'before', 'cross-instance event before the outage');

    await redis.stop();
    await waitForAsync(async () => (await a.health('/health/ready')).status === 503, 'not ready without Redis');
    expect((await b.health('/health/ready')).body.error.redis.status).toBe('down');
    expect((await a.health('/health/live')).status).toBe(200);
    daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'during', event: 'add' } });
    expect((await local.next('file-change')).payload.path).toBe('before');
    // Numbered on in the same epoch (to be recorded when Redis answers): no resync for the local client.
    const during = await local.next('file-change');
    expect(during.payload.path).toBe('during');
    expect(local.received.some((frame) => frame.type === 'resync-required')).toBe(false);
    // A daemon that reconnects meanwhile is admitted, in an epoch of the instance's own (no recorded
    // position to continue from), which the local client is told of; its local pair keeps working.
    daemon.terminate();
    const again = track(await connected(a.daemon('d-fault')));
    again.send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'during-again', event: 'add' } });
    expect((await local.next('resync-required')).payload.reason).toBe('epoch_changed');
    expect((await local.next('file-change')).payload.path).toBe('during-again');
    const started = Date.now();
    const reply = await remote.request('run-task', { taskId: 't1', workspaceId: 'w1', command: 'ls' });
    expect(reply.payload).toMatchObject({ code: 'unavailable' });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(a.process.child.exitCode).toBeNull();
    expect(b.process.child.exitCode).toBeNull();

    await redis.start();
    for (const instance of [a, b]) await waitForAsync(async () => (await instance.health('/health/ready')).status === 200, 'ready again');
    // Re-subscribed: cross-instance events flow again; re-published: presence is back.
    await waitForAsync(async () => {
      again.send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'after', event: 'add' } });
      await new Promise((resolve) => setTimeout(resolve, 100));
      return remote.received.some((frame) => frame.type === 'file-change' && frame.payload.path === 'after');
    }, 'cross-instance events after recovery');
    // Redis came back empty: the live connection records again in a new epoch, starting with what
    // it numbered meanwhile; the remote client is told to resync before the new epoch's first event.
    const afterAt = remote.received.findIndex((frame) => frame.type === 'file-change' && frame.payload.path === 'after');
    const resyncAt = remote.received.findIndex((frame) => frame.type === 'resync-required');
    expect(resyncAt).toBeGreaterThan(-1);
    expect(resyncAt).toBeLessThan(afterAt);
    const remoteEvents = remote.received.filter((frame) => frame.type === 'file-change').map((frame) => frame.payload.path);
    // 'during-again' arrives unless the remote instance caught up past it (then its resync covers it).
    expect(['before,during-again', 'before']).toContain(remoteEvents.filter((path) => path !== 'after').join(','));
    // The first connection's outage event was delivered on its instance only, and the test daemon never sends it again.
    const fresh = track(await connected(b.client('d-fault', 'user-3')));
    expect(fresh.received[0].payload.daemonStatus).toBe('online');
    expect((await fresh.request('run-task', { taskId: 't2', workspaceId: 'w1', command: 'ls' })).payload.status).toBe('accepted');
    expect((await again.next('run-task')).payload.taskId).toBe('t2');
    expect(a.process.stderr).not.toMatch(/Unhandled|unhandledRejection/i);
    expect(b.process.stderr).not.toMatch(/Unhandled|unhandledRejection/i);
  });
});
