import { jest } from '@jest/globals';
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
