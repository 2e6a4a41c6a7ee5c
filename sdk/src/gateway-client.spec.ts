import { jest } from '@jest/globals';
import { DaemonClient } from './daemon-client.js';
import { ConnectionClosedError, GatewayRequestError, RequestTimeoutError } from './errors.js';
import { GatewayClient } from './gateway-client.js';
import { ConnectionState } from './reconnecting-websocket.js';
import { FakeGateway, type FakeSocket } from './testing/fake-gateway.js';

const tick = (ms = 0) => jest.advanceTimersByTimeAsync(ms);

describe('GatewayClient', () => {
  let gateway: FakeGateway;
  let client: GatewayClient;

  beforeEach(() => {
    jest.useFakeTimers();
    gateway = new FakeGateway();
    client = new GatewayClient({
      url: 'ws://gateway.test/ws',
      daemonId: 'daemon-1',
      getToken: () => 'tok',
      WebSocket: gateway.WebSocket,
      network: null,
      requestTimeout: 1000,
    });
  });

  afterEach(() => {
    client.dispose();
    jest.useRealTimers();
  });

  function answer(handler: (socket: FakeSocket, frame: { type: string; id?: string; payload?: any }) => object | undefined) {
    gateway.onFrame = (socket, frame) => {
      const reply = handler(socket, frame);
      if (reply) socket.deliver({ ...reply, id: frame.id });
    };
  }

  it('connects to its daemon and tracks the daemon status', async () => {
    gateway.options.autoAccept = false;
    const fresh = new GatewayClient({ url: 'ws://gateway.test/ws', daemonId: 'daemon-2', WebSocket: gateway.WebSocket, network: null });
    await tick();
    expect(gateway.last.url.searchParams.get('daemonId')).toBe('daemon-2');
    gateway.last.accept({ daemonId: 'daemon-2', workspaceIds: ['w1'], daemonStatus: 'stale', timestamp: 'now' });
    expect(fresh.state).toBe(ConnectionState.Open);
    expect(fresh.daemonStatus).toBe('stale');
    expect(fresh.workspaceIds).toEqual(['w1']);
    gateway.last.deliver({
      type: 'daemon-status',
      daemonId: 'daemon-2',
      payload: { daemonId: 'daemon-2', status: 'offline', lastHeartbeat: '2026-01-01T00:00:00.000Z' },
    });
    expect(fresh.daemonStatus).toBe('offline');
    expect(fresh.lastHeartbeat).toBe('2026-01-01T00:00:00.000Z');
    fresh.dispose();
  });

  it('a live resync-required starts over from a fresh snapshot and emits resync with it', async () => {
    gateway.options.autoAccept = false;
    const resyncs: Array<{ reason: string; epoch: string | undefined }> = [];
    client.on('resync', ({ reason, snapshot }) => resyncs.push({ reason, epoch: snapshot?.stream.epoch }));
    await tick();
    const first = gateway.last;
    first.accept({
      daemonId: 'daemon-1',
      workspaceIds: [],
      workspaceStatuses: {},
      daemonStatus: 'online',
      stream: { epoch: 'E1', seq: 4 },
      recovered: false,
      timestamp: 'now',
    });
    first.deliver({ type: 'file-change', daemonId: 'daemon-1', epoch: 'E1', seq: 5, payload: { workspaceId: 'w', path: 'a', event: 'add' } });
    expect(client.position).toEqual({ epoch: 'E1', seq: 5 });
    first.deliver({ type: 'resync-required', daemonId: 'daemon-1', payload: { reason: 'epoch_changed', stream: { epoch: 'E2', seq: 0 } } });
    await tick();
    const second = gateway.last;
    expect(second).not.toBe(first);
    // No position to resume from: the history it belonged to is gone.
    expect(second.url.searchParams.get('since')).toBeNull();
    expect(resyncs).toEqual([]);
    second.accept({
      daemonId: 'daemon-1',
      workspaceIds: [],
      workspaceStatuses: {},
      daemonStatus: 'online',
      stream: { epoch: 'E2', seq: 3 },
      recovered: false,
      timestamp: 'now',
    });
    expect(resyncs).toEqual([{ reason: 'epoch_changed', epoch: 'E2' }]);
    expect(client.position).toEqual({ epoch: 'E2', seq: 3 });
  });

  it('a resync-required right after connected answers the resume, on the same connection', async () => {
    gateway.options.autoAccept = false;
    const resyncs: string[] = [];
    client.on('resync', ({ reason }) => resyncs.push(reason));
    await tick();
    const socket = gateway.last;
    socket.accept({
      daemonId: 'daemon-1',
      workspaceIds: [],
      workspaceStatuses: {},
      daemonStatus: 'online',
      stream: { epoch: 'E1', seq: 9 },
      recovered: false,
      timestamp: 'now',
    });
    socket.deliver({ type: 'resync-required', daemonId: 'daemon-1', payload: { reason: 'history_expired', stream: { epoch: 'E1', seq: 9 } } });
    await tick();
    expect(resyncs).toEqual(['history_expired']);
    expect(gateway.last).toBe(socket);
  });

  it('emits typed daemon events', async () => {
    const seen: string[] = [];
    client.on('file-change', (frame) => seen.push(`${frame.daemonId}:${frame.payload.path}`));
    client.on('task-status', (frame) => seen.push(`task:${frame.payload.status}`));
    client.on('workspace-update', (frame) => seen.push(`ws:${frame.payload.status}`));
    await tick();
    gateway.last.deliver({ type: 'file-change', daemonId: 'daemon-1', payload: { workspaceId: 'w', path: 'a.ts', event: 'add' } });
    gateway.last.deliver({ type: 'task-status', daemonId: 'daemon-1', payload: { taskId: 't', status: 'running' } });
    gateway.last.deliver({ type: 'workspace-update', daemonId: 'daemon-1', payload: { workspaceId: 'w', status: 'idle' } });
    expect(seen).toEqual(['daemon-1:a.ts', 'task:running', 'ws:idle']);
  });

  it('resolves getWorkspaceStatus from the reply with its id, and rejects typed errors', async () => {
    answer((_socket, frame) =>
      frame.payload?.workspaceId === 'w1'
        ? { type: 'workspace-status', payload: { workspaceId: 'w1', status: 'idle' } }
        : { type: 'error', payload: { code: 'not_found', message: 'workspace not found', field: 'workspaceId' } },
    );
    await tick();
    await expect(client.getWorkspaceStatus('w1')).resolves.toEqual({ workspaceId: 'w1', status: 'idle' });
    const failure = client.getWorkspaceStatus('nope');
    await expect(failure).rejects.toBeInstanceOf(GatewayRequestError);
    await expect(failure).rejects.toMatchObject({ code: 'not_found', field: 'workspaceId' });
  });

  it('runs and cancels tasks with client-generated ids', async () => {
    answer((_socket, frame) => (frame.type === 'run-task' || frame.type === 'cancel-task' ? { type: 'ack', payload: { status: 'accepted' } } : undefined));
    await tick();
    const { taskId, status } = await client.runTask({ workspaceId: 'w1', command: 'npm', args: ['test'] });
    expect(status).toBe('accepted');
    expect(taskId).toMatch(/^[0-9a-f-]{36}$/);
    const sent = gateway.last.frames.find((frame) => frame.type === 'run-task')!;
    expect(sent.payload).toEqual({ taskId, workspaceId: 'w1', command: 'npm', args: ['test'] });
    await client.runTask({ workspaceId: 'w1', command: 'ls', taskId: 'mine' });
    expect(gateway.last.frames.at(-1)!.payload).toMatchObject({ taskId: 'mine' });
    await expect(client.cancelTask('mine')).resolves.toEqual({ status: 'accepted', id: expect.any(String), delivery: expect.any(Promise) });
  });

  it('sends an unanswered command again after a reconnect, with the same id, exactly once', async () => {
    await tick();
    const first = gateway.last;
    const pending = client.runTask({ workspaceId: 'w1', command: 'ls', taskId: 't1' });
    await tick();
    const sent = first.frames.find((frame) => frame.type === 'run-task')!;
    first.drop();
    const queued = client.cancelTask('t0');
    answer((_socket, frame) =>
      frame.type === 'run-task' || frame.type === 'cancel-task' ? { type: 'ack', payload: { status: 'duplicate', outcome: 'accepted' } } : undefined,
    );
    await tick(500);
    const second = gateway.last;
    expect(second).not.toBe(first);
    expect(second.frames.filter((frame) => frame.type === 'run-task')).toEqual([sent]);
    expect(second.frames.filter((frame) => frame.type === 'cancel-task')).toHaveLength(1);
    await expect(pending).resolves.toEqual({ taskId: 't1', status: 'duplicate', outcome: 'accepted', id: sent.id, delivery: expect.any(Promise) });
    await expect(queued).resolves.toEqual({ status: 'duplicate', outcome: 'accepted', id: expect.any(String), delivery: expect.any(Promise) });
  });

  it('resolves a command’s delivery with its command-status, and only with its own', async () => {
    answer((_socket, frame) => (frame.type === 'run-task' || frame.type === 'cancel-task' ? { type: 'ack', payload: { status: 'accepted' } } : undefined));
    await tick();
    const run = await client.runTask({ workspaceId: 'w1', command: 'ls', taskId: 't1' });
    const cancel = await client.cancelTask('t1');
    const settled: string[] = [];
    void run.delivery.then((status) => settled.push(`run:${status}`));
    void cancel.delivery.then((status) => settled.push(`cancel:${status}`));
    gateway.last.deliver({ type: 'command-status', id: 'someone-else', payload: { status: 'delivered', daemonId: 'daemon-1' } });
    gateway.last.deliver({ type: 'command-status', id: cancel.id, payload: { status: 'expired', daemonId: 'daemon-1' } });
    await tick();
    expect(settled).toEqual(['cancel:expired']);
    gateway.last.deliver({ type: 'command-status', id: run.id, payload: { status: 'delivered', daemonId: 'daemon-1' } });
    await tick();
    expect(settled).toEqual(['cancel:expired', 'run:delivered']);
  });

  it('after a reconnect sends an accepted command still waiting again, and settles it from the duplicate’s outcome', async () => {
    answer((_socket, frame) => (frame.type === 'run-task' ? { type: 'ack', payload: { status: 'accepted' } } : undefined));
    await tick();
    const first = gateway.last;
    const run = await client.runTask({ workspaceId: 'w1', command: 'ls', taskId: 't1' });
    const waiting = await client.runTask({ workspaceId: 'w1', command: 'ls', taskId: 't2' });
    const statuses: string[] = [];
    void run.delivery.then((status) => statuses.push(`t1:${status}`));
    void waiting.delivery.then((status) => statuses.push(`t2:${status}`));
    answer((_socket, frame) =>
      frame.type === 'run-task'
        ? { type: 'ack', payload: { status: 'duplicate', outcome: frame.payload.taskId === 't1' ? 'delivered' : 'accepted' } }
        : undefined,
    );
    first.drop();
    await tick(500);
    const second = gateway.last;
    expect(second).not.toBe(first);
    expect(second.frames.filter((frame) => frame.type === 'run-task').map((frame) => frame.id)).toEqual([run.id, waiting.id]);
    expect(statuses).toEqual(['t1:delivered']);
    // Still waiting: its status now comes to the new connection.
    second.deliver({ type: 'command-status', id: waiting.id, payload: { status: 'delivered', daemonId: 'daemon-1' } });
    await tick();
    expect(statuses).toEqual(['t1:delivered', 't2:delivered']);
  });

  it('a duplicate whose command was already settled resolves its delivery at once', async () => {
    answer((_socket, frame) => (frame.type === 'cancel-task' ? { type: 'ack', payload: { status: 'duplicate', outcome: 'expired' } } : undefined));
    await tick();
    await expect((await client.cancelTask('t1')).delivery).resolves.toBe('expired');
  });

  it('rejects deliveries still waiting when the client is disposed', async () => {
    answer((_socket, frame) => (frame.type === 'cancel-task' ? { type: 'ack', payload: { status: 'accepted' } } : undefined));
    await tick();
    const { delivery } = await client.cancelTask('t1');
    client.dispose();
    await expect(delivery).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('rejects a command the gateway could not hand to the daemon', async () => {
    answer(() => ({ type: 'ack', payload: { status: 'daemon_offline' } }));
    await tick();
    await expect(client.runTask({ workspaceId: 'w1', command: 'ls' })).rejects.toMatchObject({ code: 'daemon_offline' });
  });

  it('queues requests while disconnected and sends them after reconnecting', async () => {
    answer(() => ({ type: 'workspace-status', payload: { workspaceId: 'w1', status: 'idle' } }));
    await tick();
    gateway.last.drop();
    const pending = client.getWorkspaceStatus('w1');
    await tick(500);
    await expect(pending).resolves.toMatchObject({ status: 'idle' });
    expect(gateway.sockets).toHaveLength(2);
  });

  it('times requests out, and rejects pending ones when the link stops for good', async () => {
    await tick();
    const silent = client.getWorkspaceStatus('w1');
    const timedOut = expect(silent).rejects.toBeInstanceOf(RequestTimeoutError);
    await tick(1000);
    await timedOut;
    const pending = client.getWorkspaceStatus('w1');
    gateway.last.closeFromServer(4403, 'forbidden');
    await expect(pending).rejects.toBeInstanceOf(ConnectionClosedError);
    expect(client.state).toBe(ConnectionState.Forbidden);
  });

  it('dispose leaves no timers behind', async () => {
    await tick();
    void client.getWorkspaceStatus('w1').catch(() => undefined);
    client.dispose();
    await tick();
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('DaemonClient', () => {
  let gateway: FakeGateway;
  let daemon: DaemonClient;

  beforeEach(() => {
    jest.useFakeTimers();
    gateway = new FakeGateway();
    daemon = new DaemonClient({
      url: 'ws://gateway.test/ws',
      getToken: () => 'tok',
      WebSocket: gateway.WebSocket,
      network: null,
      workspaceIds: ['w1'],
      daemonHeartbeatInterval: 1000,
    });
  });

  afterEach(() => {
    daemon.dispose();
    jest.useRealTimers();
  });

  const heartbeats = () => gateway.last.frames.filter((frame) => frame.type === 'heartbeat');

  it('sends a heartbeat with its workspaces on connect and every interval', async () => {
    await tick();
    expect(heartbeats()).toEqual([{ type: 'heartbeat', payload: { workspaceIds: ['w1'] } }]);
    await tick(3000);
    expect(heartbeats()).toHaveLength(4);
    daemon.setWorkspaces(['w1', 'w2']);
    expect(heartbeats().at(-1)).toEqual({ type: 'heartbeat', payload: { workspaceIds: ['w1', 'w2'] } });
  });

  it('reports a backed-up link and emits drain once it is below half the high-water mark', async () => {
    daemon.dispose();
    daemon = new DaemonClient({ url: 'ws://gateway.test/ws', getToken: () => 'tok', WebSocket: gateway.WebSocket, network: null, highWaterMark: 1000 });
    const drains: number[] = [];
    daemon.on('drain', () => drains.push(Date.now()));
    await tick();
    expect(daemon.fileChange('w1', 'a.ts', 'add')).toBe(true);
    expect(daemon.backedUp).toBe(false);
    // The gateway stopped reading: the socket's buffer fills.
    gateway.last.bufferedAmount = 1500;
    expect(daemon.fileChange('w1', 'b.ts', 'add')).toBe(false);
    expect(daemon.backedUp).toBe(true);
    // Not dropped: it went out and is kept until acknowledged.
    expect(gateway.last.frames.filter((frame) => frame.type === 'file-change')).toHaveLength(2);
    expect(daemon.unacknowledgedCount).toBe(2);
    gateway.last.bufferedAmount = 700;
    await tick(100);
    expect(drains).toEqual([]);
    gateway.last.bufferedAmount = 400;
    await tick(10);
    expect(drains).toHaveLength(1);
    expect(daemon.backedUp).toBe(false);
    expect(daemon.fileChange('w1', 'c.ts', 'add')).toBe(true);
  });

  it('a helper called while disconnected returns false, and drain follows the reconnect', async () => {
    // The state at each drain: the reconnect's jittered delay may be anything from 0 ms, so the
    // drain is checked against the link being back, not against a guess at when that happens.
    const drains: ConnectionState[] = [];
    daemon.on('drain', () => drains.push(daemon.state));
    await tick();
    gateway.last.drop();
    expect(daemon.fileChange('w1', 'offline.ts', 'add')).toBe(false);
    expect(drains).toEqual([]);
    await tick(5000);
    expect(daemon.state).toBe(ConnectionState.Open);
    expect(drains).toEqual([ConnectionState.Open]);
  });

  it('sends events through typed helpers and queues them while disconnected, never heartbeats', async () => {
    await tick();
    expect(daemon.fileChange('w1', 'a.ts', 'add')).toBe(true);
    gateway.last.drop();
    expect(daemon.workspaceUpdate('w1', 'syncing')).toBe(false);
    expect(daemon.taskStatus('t1', 'failed', { error: 'boom' })).toBe(false);
    await tick(2000);
    expect(gateway.sockets).toHaveLength(2);
    // Everything unacknowledged goes again, in order, numbered: the gateway drops what it already has.
    expect(gateway.last.frames.slice(0, 4)).toEqual([
      { type: 'file-change', payload: { workspaceId: 'w1', path: 'a.ts', event: 'add' }, seq: 1 },
      { type: 'workspace-update', payload: { workspaceId: 'w1', status: 'syncing' }, seq: 2 },
      { type: 'task-status', payload: { taskId: 't1', status: 'failed', error: 'boom' }, seq: 3 },
      { type: 'heartbeat', payload: { workspaceIds: ['w1'] } },
    ]);
    expect(gateway.last.url.searchParams.get('session')).toBe(daemon.session);
    gateway.last.deliver({ type: 'ack', payload: { seq: 2 } });
    expect(daemon.unacknowledgedCount).toBe(1);
  });

  it('forgets what the gateway recorded before the reconnect, and drops the oldest past maxUnacknowledged', async () => {
    daemon.dispose();
    daemon = new DaemonClient({ url: 'ws://gateway.test/ws', WebSocket: gateway.WebSocket, network: null, maxUnacknowledged: 3 });
    const dropped: number[] = [];
    daemon.on('drop', ({ seq }) => dropped.push(seq));
    await tick();
    for (let i = 0; i < 4; i += 1) daemon.fileChange('w1', `f${i}`, 'add');
    expect(dropped).toEqual([1]);
    gateway.options.autoAccept = false;
    gateway.last.drop();
    await tick(1000);
    gateway.last.accept({ workspaceIds: [], lastSeq: 3, timestamp: 'now' });
    expect(gateway.last.frames.filter((frame) => frame.type === 'file-change')).toEqual([
      { type: 'file-change', payload: { workspaceId: 'w1', path: 'f3', event: 'add' }, seq: 4 },
    ]);
  });

  it('receives commands as typed events', async () => {
    const received: string[] = [];
    daemon.on('run-task', (task) => received.push(`run:${task.taskId}:${task.userId}`));
    daemon.on('cancel-task', (task) => received.push(`cancel:${task.taskId}`));
    await tick();
    gateway.last.deliver({ type: 'run-task', payload: { taskId: 't1', workspaceId: 'w1', command: 'ls', userId: 'u1' } });
    gateway.last.deliver({ type: 'cancel-task', payload: { taskId: 't1', userId: 'u1' } });
    expect(received).toEqual(['run:t1:u1', 'cancel:t1']);
  });

  it('confirms each command after handing it to its handler, and a repeated id is confirmed again without a second call', async () => {
    const received: string[] = [];
    daemon.on('run-task', (task) => received.push(task.taskId));
    await tick();
    const command = { type: 'run-task', id: 'cmd-1', payload: { taskId: 't1', workspaceId: 'w1', command: 'ls', userId: 'u1' } };
    gateway.last.deliver(command);
    gateway.last.deliver(command);
    gateway.last.deliver({ ...command, id: 'cmd-2', payload: { ...command.payload, taskId: 't2' } });
    expect(received).toEqual(['t1', 't2']);
    const acks = gateway.last.frames.filter((frame) => frame.type === 'command-ack').map((frame) => frame.payload.id);
    expect(acks).toEqual(['cmd-1', 'cmd-1', 'cmd-2']);
    // After a reconnect the gateway sends what it did not see confirmed: the handler is not called again.
    gateway.last.drop();
    await tick(1000);
    gateway.last.deliver(command);
    expect(received).toEqual(['t1', 't2']);
    expect(gateway.last.frames.filter((frame) => frame.type === 'command-ack').map((frame) => frame.payload.id)).toEqual(['cmd-1']);
  });

  it('forgets taken command ids after commandMemoryMs', async () => {
    const short = new DaemonClient({ url: 'ws://gateway.test/ws', getToken: () => 'tok', WebSocket: gateway.WebSocket, network: null, commandMemoryMs: 1000 });
    const received: string[] = [];
    short.on('cancel-task', (task) => received.push(task.taskId));
    await tick();
    const socket = gateway.last;
    const command = (id: string) => ({ type: 'cancel-task', id, payload: { taskId: id, userId: 'u1' } });
    socket.deliver(command('a'));
    await tick(1500);
    socket.deliver(command('b'));
    socket.deliver(command('a'));
    expect(received).toEqual(['a', 'b', 'a']);
    short.dispose();
  });

  it('stops heartbeats while disconnected and leaves no timers after dispose', async () => {
    await tick();
    gateway.options.autoAccept = false;
    gateway.last.drop();
    await tick(5000);
    expect(gateway.sockets.length).toBeGreaterThan(1);
    expect(gateway.sockets.slice(1).every((socket) => socket.sent.length === 0)).toBe(true);
    daemon.dispose();
    await tick();
    expect(jest.getTimerCount()).toBe(0);
  });
});
