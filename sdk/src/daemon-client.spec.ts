import { jest } from '@jest/globals';
import { DaemonClient } from './daemon-client.js';
import { ConnectionState } from './reconnecting-websocket.js';
import { FakeGateway } from './testing/fake-gateway.js';

const tick = (ms = 0) => jest.advanceTimersByTimeAsync(ms);

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
