import { Role } from '@arbor/gateway-client/protocol';
import { Socket } from 'node:net';
import { GatewayHarness } from './support/gateway-harness.js';

describe('relay between daemons and clients', () => {
  let gateway: GatewayHarness;

  beforeEach(async () => {
    gateway = await GatewayHarness.start();
  });

  afterEach(async () => {
    await gateway.stop();
  });

  it('sends connected snapshots to daemon and client', async () => {
    const daemon = await gateway.open(gateway.wsUrl({ token: gateway.token(Role.Daemon, 'daemon-1') }));
    const daemonConnected = await daemon.next('connected');
    expect(daemonConnected.payload).toEqual({ workspaceIds: [], lastSeq: 0, authExpiresAt: expect.any(String), timestamp: expect.any(String) });
    expect(Number.isNaN(Date.parse(daemonConnected.payload.timestamp))).toBe(false);

    daemon.send({ type: 'heartbeat', payload: { workspaceIds: ['w1', 'w2'] } });
    await daemon.assertAlive();

    const client = await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token: gateway.token(Role.Client, 'user-1', { daemons: ['daemon-1'] }) }));
    const connected = await client.next('connected');
    expect(connected.payload).toEqual({
      daemonId: 'daemon-1',
      workspaceIds: ['w1', 'w2'],
      workspaceStatuses: { w1: 'unknown', w2: 'unknown' },
      daemonStatus: 'online',
      stream: { epoch: expect.any(String), seq: 1 },
      recovered: false,
      authExpiresAt: expect.any(String),
      timestamp: expect.any(String),
    });
    // The connected frame is always the first frame a peer receives.
    expect(client.received[0].type).toBe('connected');
  });

  it('sends the 101 response and the connected frame in one write', async () => {
    // Every write the gateway's side of a socket hands to the kernel, by the number of chunks in it.
    const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (this: Socket, ...args: unknown[]) => void>;
    const original = { write: proto._write, writev: proto._writev };
    const writes: number[] = [];
    proto._write = function (...args) {
      if (this.localPort === gateway.port) writes.push(1);
      original.write.apply(this, args);
    };
    proto._writev = function (...args) {
      if (this.localPort === gateway.port) writes.push((args[0] as unknown[]).length);
      original.writev.apply(this, args);
    };
    try {
      const daemon = await gateway.open(gateway.wsUrl({ token: gateway.token(Role.Daemon, 'daemon-1') }));
      await daemon.next('connected');
    } finally {
      Object.assign(proto, { _write: original.write, _writev: original.writev });
    }
    expect(writes).toEqual([2]);
  });

  it('answers ping with pong carrying the request id, for both roles', async () => {
    const daemon = await gateway.daemon('daemon-1');
    const client = await gateway.client('daemon-1');
    expect(await daemon.request('ping')).toEqual({ type: 'pong', id: 'req-1' });
    expect(await client.request('ping')).toEqual({ type: 'pong', id: 'req-1' });
    client.send({ type: 'ping' });
    expect(await client.next('pong')).toEqual({ type: 'pong' });
  });

  it('forwards daemon events to watching clients with daemonId in the envelope', async () => {
    const daemon = await gateway.daemon('daemon-123');
    const first = await gateway.client('daemon-123', 'user-1');
    const second = await gateway.client('daemon-123', 'user-2');
    const otherDaemonClient = await gateway.client('daemon-other', 'user-3');

    daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'src/a.ts', event: 'change' } });
    daemon.send({ type: 'task-status', payload: { taskId: 't1', status: 'running', output: 'step 1' } });
    daemon.send({ type: 'workspace-update', payload: { workspaceId: 'w1', status: 'syncing' } });

    for (const client of [first, second]) {
      expect(await client.next('file-change')).toEqual({
        type: 'file-change',
        daemonId: 'daemon-123',
        epoch: expect.any(String),
        seq: 2,
        payload: { workspaceId: 'w1', path: 'src/a.ts', event: 'change' },
      });
      expect(await client.next('task-status')).toEqual({
        type: 'task-status',
        daemonId: 'daemon-123',
        epoch: expect.any(String),
        seq: 3,
        payload: { taskId: 't1', status: 'running', output: 'step 1' },
      });
      expect(await client.next('workspace-update')).toEqual({
        type: 'workspace-update',
        daemonId: 'daemon-123',
        epoch: expect.any(String),
        seq: 4,
        payload: { workspaceId: 'w1', status: 'syncing' },
      });
    }
    await otherDaemonClient.assertAlive();
    expect(otherDaemonClient.received.map((frame) => frame.type)).toEqual(['connected', 'pong']);
  });

  it('keeps the order of a burst of daemon events', async () => {
    const daemon = await gateway.daemon('daemon-1');
    const client = await gateway.client('daemon-1');
    const count = 500;
    for (let i = 0; i < count; i += 1) {
      daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: `file-${i}`, event: i % 2 ? 'add' : 'change' } });
    }
    const frames = await client.collect('file-change', count);
    expect(frames.map((frame) => frame.payload.path)).toEqual(Array.from({ length: count }, (_, i) => `file-${i}`));
  });

  it('answers get-workspace-status from the status cache', async () => {
    const daemon = await gateway.daemon('daemon-1');
    const client = await gateway.client('daemon-1');
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: ['w1'] } });
    await daemon.assertAlive();

    expect(await client.request('get-workspace-status', { workspaceId: 'w1' })).toEqual({
      type: 'workspace-status',
      id: 'req-1',
      payload: { workspaceId: 'w1', status: 'unknown' },
    });

    daemon.send({ type: 'workspace-update', payload: { workspaceId: 'w1', status: 'idle' } });
    await client.next('workspace-update');
    expect((await client.request('get-workspace-status', { workspaceId: 'w1' })).payload).toEqual({ workspaceId: 'w1', status: 'idle' });

    const missing = await client.request('get-workspace-status', { workspaceId: 'w-missing' });
    expect(missing).toEqual({ type: 'error', id: 'req-3', payload: { code: 'not_found', message: 'workspace not found', field: 'workspaceId' } });
    await client.assertAlive();
  });

  it('drops cached statuses of workspaces a heartbeat no longer lists', async () => {
    const daemon = await gateway.daemon('daemon-1');
    const client = await gateway.client('daemon-1');
    daemon.send({ type: 'workspace-update', payload: { workspaceId: 'w1', status: 'idle' } });
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: ['w2'] } });
    await daemon.assertAlive();
    expect((await client.request('get-workspace-status', { workspaceId: 'w1' })).payload.code).toBe('not_found');
    expect((await client.request('get-workspace-status', { workspaceId: 'w2' })).payload.status).toBe('unknown');
  });

  it('forwards a command id at most once: a retry gets duplicate and the original outcome', async () => {
    const daemon = await gateway.daemon('daemon-1');
    const client = await gateway.client('daemon-1', 'user-42');
    const command = { type: 'run-task', id: 'cmd-7', payload: { taskId: 't7', workspaceId: 'w1', command: 'make' } };
    client.send(command);
    expect((await client.next('ack')).payload).toEqual({ status: 'accepted' });
    client.terminate();
    const again = await gateway.client('daemon-1', 'user-42');
    again.send(command);
    expect(await again.next('ack')).toEqual({ type: 'ack', id: 'cmd-7', payload: { status: 'duplicate', outcome: 'accepted' } });
    await daemon.assertAlive();
    expect(daemon.received.filter((frame) => frame.type === 'run-task')).toHaveLength(1);
  });

  it('routes run-task and cancel-task to the daemon with the requesting user', async () => {
    const daemon = await gateway.daemon('daemon-1');
    const client = await gateway.client('daemon-1', 'user-42');

    const ack = await client.request('run-task', { taskId: 't1', workspaceId: 'w1', command: 'npm', args: ['test'] });
    expect(ack).toEqual({ type: 'ack', id: 'req-1', payload: { status: 'accepted' } });
    expect(await daemon.next('run-task')).toEqual({
      type: 'run-task',
      // The command's id: the client's, which the daemon confirms with command-ack.
      id: 'req-1',
      payload: { taskId: 't1', workspaceId: 'w1', command: 'npm', args: ['test'], userId: 'user-42' },
    });

    client.send({ type: 'cancel-task', payload: { taskId: 't1' } });
    // Without a client id the gateway gives it one: every command reaches the daemon with an id to confirm.
    expect(await daemon.next('cancel-task')).toEqual({ type: 'cancel-task', id: expect.stringMatching(/^gw-/), payload: { taskId: 't1', userId: 'user-42' } });
  });

  it('ignores a userId smuggled into a command payload', async () => {
    const daemon = await gateway.daemon('daemon-1');
    const client = await gateway.client('daemon-1', 'user-42');
    const reply = await client.request('run-task', { taskId: 't1', workspaceId: 'w1', command: 'x', userId: 'admin' });
    expect(reply.payload).toMatchObject({ code: 'validation_failed', field: 'userId' });
    await daemon.assertAlive();
    expect(daemon.received.some((frame) => frame.type === 'run-task')).toBe(false);
  });

  it('answers daemon_offline when the daemon is not connected', async () => {
    const client = await gateway.client('daemon-absent');
    expect(client.received[0].payload.daemonStatus).toBe('offline');
    // A command with an id is acknowledged with its outcome; without an id, daemon_offline is an error.
    const reply = await client.request('run-task', { taskId: 't1', workspaceId: 'w1', command: 'ls' });
    expect(reply).toEqual({ type: 'ack', id: 'req-1', payload: { status: 'daemon_offline' } });
    expect((await client.request('cancel-task', { taskId: 't1' })).payload.status).toBe('daemon_offline');
    client.send({ type: 'cancel-task', payload: { taskId: 't1' } });
    expect((await client.next('error')).payload).toEqual({ code: 'daemon_offline', message: 'daemon is not connected' });
    await client.assertAlive();
  });

  it('tells clients when their daemon comes online and goes offline', async () => {
    const client = await gateway.client('daemon-1');
    const daemon = await gateway.daemon('daemon-1');
    expect(await client.next('daemon-status')).toEqual({
      type: 'daemon-status',
      daemonId: 'daemon-1',
      epoch: client.received[0].payload.stream.epoch,
      seq: 1,
      payload: { daemonId: 'daemon-1', status: 'online', lastHeartbeat: null },
    });
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: [] } });
    await daemon.assertAlive();
    daemon.close();
    const offline = await client.next('daemon-status');
    expect(offline.payload).toEqual({ daemonId: 'daemon-1', status: 'offline', lastHeartbeat: expect.any(String) });
  });

  it('replaces an older daemon connection with the newer one (4409)', async () => {
    const client = await gateway.client('daemon-1');
    const older = await gateway.daemon('daemon-1');
    await client.next('daemon-status');
    const newer = await gateway.daemon('daemon-1');
    expect(await older.waitClosed()).toEqual({ code: 4409, reason: 'replaced by a newer connection' });
    expect(older.received.at(-1)).toEqual({ type: 'error', payload: { code: 'replaced', message: 'replaced by a newer connection' } });

    await client.request('run-task', { taskId: 't1', workspaceId: 'w1', command: 'ls' });
    expect((await newer.next('run-task')).payload.taskId).toBe('t1');
    // The replacement is seamless for clients: no offline blip.
    await client.assertAlive();
    expect(client.received.filter((frame) => frame.type === 'daemon-status').map((frame) => frame.payload.status)).toEqual(['online']);
  });
});
