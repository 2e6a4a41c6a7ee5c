import { jest } from '@jest/globals';
import type { DaemonWatch } from './daemon-watch.js';
import { WatchState } from './daemon-watch.js';
import { GatewayClient } from './gateway-client.js';
import type { Frame } from './protocol.js';
import { FakeGateway, type FakeSocket } from './testing/fake-gateway.js';

const tick = (ms = 0) => jest.advanceTimersByTimeAsync(ms);

const change = (daemonId: string, seq: number, path = `p${seq}`, epoch = 'fake') => ({
  type: 'file-change',
  daemonId,
  epoch,
  seq,
  payload: { workspaceId: 'w', path, event: 'add' },
});

/** The paths a watch saw, in order, repeats included: the watch must not need deduplicating. */
function seen(watch: DaemonWatch): string[] {
  const paths: string[] = [];
  watch.on('file-change', (frame) => paths.push(frame.payload.path));
  return paths;
}

const sentOfType = (socket: FakeSocket, type: string): Frame[] => socket.frames.filter((frame) => frame.type === type);

describe('GatewayClient without daemonId: many daemons on one connection', () => {
  let gateway: FakeGateway;
  let client: GatewayClient;

  beforeEach(() => {
    jest.useFakeTimers();
    gateway = new FakeGateway();
    client = new GatewayClient({ url: 'ws://gateway.test/ws', getToken: () => 'tok', WebSocket: gateway.WebSocket, network: null, requestTimeout: 1000 });
  });

  afterEach(() => {
    client.dispose();
    jest.useRealTimers();
  });

  it('subscribes each watched daemon on one connection and routes each daemon its own frames', async () => {
    const one = client.watch('d1');
    const two = client.watch('d2');
    const onePaths = seen(one);
    const twoPaths = seen(two);
    await tick();
    expect(gateway.sockets).toHaveLength(1);
    expect(gateway.last.url.searchParams.has('daemonId')).toBe(false);
    expect(sentOfType(gateway.last, 'subscribe').map((frame) => frame.payload)).toEqual([{ daemonId: 'd1' }, { daemonId: 'd2' }]);
    expect([one.state, two.state]).toEqual([WatchState.Subscribed, WatchState.Subscribed]);
    expect(one.daemonStatus).toBe('online');
    gateway.last.deliver(change('d1', 1, 'a'));
    gateway.last.deliver(change('d2', 1, 'b'));
    gateway.last.deliver({ type: 'daemon-status', daemonId: 'd2', payload: { daemonId: 'd2', status: 'stale', lastHeartbeat: 'then' } });
    expect(onePaths).toEqual(['a']);
    expect(twoPaths).toEqual(['b']);
    expect([one.daemonStatus, two.daemonStatus, two.lastHeartbeat]).toEqual(['online', 'stale', 'then']);
    expect(one.position).toEqual({ epoch: 'fake', seq: 1 });
  });

  it('after a reconnect resumes every subscription from its own position in one round trip, nothing twice', async () => {
    const watches = ['d1', 'd2', 'd3'].map((daemonId) => client.watch(daemonId));
    const paths = watches.map(seen);
    await tick();
    const first = gateway.last;
    first.deliver(change('d1', 1));
    first.deliver(change('d1', 2));
    first.deliver(change('d2', 1));
    first.drop();
    gateway.options.autoSubscribe = false;
    await tick(1000);
    const second = gateway.last;
    expect(second).not.toBe(first);
    // Every subscribe goes out at once, before any answer: one round trip.
    expect(second.frames.map((frame) => [frame.type, frame.payload])).toEqual([
      ['subscribe', { daemonId: 'd1', since: 'fake:2' }],
      ['subscribe', { daemonId: 'd2', since: 'fake:1' }],
      ['subscribe', { daemonId: 'd3', since: 'fake:0' }],
    ]);
    expect(watches.map((watch) => watch.state)).toEqual([WatchState.Subscribing, WatchState.Subscribing, WatchState.Subscribing]);
    for (const frame of second.frames) {
      const [epoch, seq] = String((frame.payload as { since: string }).since).split(':');
      const daemonId = (frame.payload as { daemonId: string }).daemonId;
      second.deliver({ type: 'subscribed', id: frame.id, payload: second.subscribedPayload(daemonId, { epoch, seq: Number(seq) }) });
    }
    // The gateway replays from each position; a repeat (the seam) is dropped by the client.
    second.deliver(change('d1', 2));
    second.deliver(change('d1', 3));
    second.deliver(change('d3', 1));
    expect(paths).toEqual([['p1', 'p2', 'p3'], ['p1'], ['p1']]);
    expect(watches.every((watch) => watch.recovered)).toBe(true);
  });

  it('a gap on one subscription asks for that daemon again on the same connection; the others carry on', async () => {
    const one = client.watch('d1');
    const two = client.watch('d2');
    const onePaths = seen(one);
    const twoPaths = seen(two);
    await tick();
    const socket = gateway.last;
    socket.deliver(change('d1', 1));
    gateway.options.autoSubscribe = false;
    socket.deliver(change('d1', 3));
    expect(one.state).toBe(WatchState.Subscribing);
    const [unsubscribe, subscribe] = socket.frames.slice(-2);
    expect([unsubscribe.type, unsubscribe.payload]).toEqual(['unsubscribe', { daemonId: 'd1' }]);
    expect([subscribe.type, subscribe.payload]).toEqual(['subscribe', { daemonId: 'd1', since: 'fake:1' }]);
    // Until the answer, d1's frames are dropped (its replay brings them); d2's flow.
    socket.deliver(change('d1', 4));
    socket.deliver(change('d2', 1));
    socket.deliver({ type: 'unsubscribed', id: unsubscribe.id, payload: { daemonId: 'd1' } });
    socket.deliver({ type: 'subscribed', id: subscribe.id, payload: socket.subscribedPayload('d1', { epoch: 'fake', seq: 1 }) });
    for (const seq of [2, 3, 4]) socket.deliver(change('d1', seq));
    expect(onePaths).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(twoPaths).toEqual(['p1']);
    expect(gateway.sockets).toHaveLength(1);
  });

  it('a live resync-required starts that daemon over from a fresh snapshot and emits resync with it', async () => {
    const watch = client.watch('d1');
    const paths = seen(watch);
    const resyncs: Array<{ reason: string; epoch: string | undefined }> = [];
    watch.on('resync', ({ reason, snapshot }) => resyncs.push({ reason, epoch: snapshot?.stream.epoch }));
    await tick();
    const socket = gateway.last;
    socket.deliver(change('d1', 1));
    gateway.options.autoSubscribe = false;
    socket.deliver({ type: 'resync-required', daemonId: 'd1', payload: { reason: 'history_expired', stream: { epoch: 'E2', seq: 7 } } });
    const subscribe = socket.frames.at(-1)!;
    expect([subscribe.type, subscribe.payload]).toEqual(['subscribe', { daemonId: 'd1' }]);
    expect(resyncs).toEqual([]);
    // Frames still in flight from before the answer belong to the lost history: not shown.
    socket.deliver(change('d1', 2));
    socket.deliver({ type: 'subscribed', id: subscribe.id, payload: { ...socket.subscribedPayload('d1'), stream: { epoch: 'E2', seq: 7 } } });
    expect(resyncs).toEqual([{ reason: 'history_expired', epoch: 'E2' }]);
    expect(watch.position).toEqual({ epoch: 'E2', seq: 7 });
    socket.deliver(change('d1', 8, 'after', 'E2'));
    expect(paths).toEqual(['p1', 'after']);
  });

  it('a refused subscription ends alone; one the gateway ends later says why', async () => {
    gateway.options.autoSubscribe = false;
    const allowed = client.watch('d1');
    const refused = client.watch('nope');
    const ends: string[] = [];
    refused.on('ended', ({ reason, error }) => ends.push(`nope:${reason}:${error?.code}`));
    allowed.on('ended', ({ reason }) => ends.push(`d1:${reason}`));
    await tick();
    const socket = gateway.last;
    const [first, second] = sentOfType(socket, 'subscribe');
    socket.deliver({ type: 'subscribed', id: first.id, payload: socket.subscribedPayload('d1') });
    socket.deliver({ type: 'error', id: second.id, payload: { code: 'forbidden', message: 'not yours' } });
    expect(ends).toEqual(['nope:forbidden:forbidden']);
    expect([allowed.state, refused.state]).toEqual([WatchState.Subscribed, WatchState.Ended]);
    socket.deliver({ type: 'unsubscribed', payload: { daemonId: 'd1', reason: 'forbidden' } });
    expect(ends).toEqual(['nope:forbidden:forbidden', 'd1:forbidden']);
    expect(allowed.state).toBe(WatchState.Ended);
    // Ended subscriptions are not asked for again after a reconnect.
    socket.drop();
    await tick(1000);
    expect(sentOfType(gateway.last, 'subscribe')).toEqual([]);
  });

  it('asks again after a passing refusal (Redis away)', async () => {
    gateway.options.autoSubscribe = false;
    const watch = client.watch('d1');
    await tick();
    const socket = gateway.last;
    socket.deliver({ type: 'error', id: socket.frames[0].id, payload: { code: 'unavailable', message: 'try again' } });
    expect(watch.state).toBe(WatchState.Subscribing);
    await tick(1000);
    const again = sentOfType(socket, 'subscribe');
    expect(again).toHaveLength(2);
    socket.deliver({ type: 'subscribed', id: again[1].id, payload: socket.subscribedPayload('d1') });
    expect(watch.state).toBe(WatchState.Subscribed);
  });

  it('names the daemon in each command and request, and settles them by id', async () => {
    gateway.onFrame = (socket, frame) => {
      if (frame.type === 'run-task' || frame.type === 'cancel-task') socket.deliver({ type: 'ack', id: frame.id, payload: { status: 'accepted' } });
      if (frame.type === 'get-workspace-status')
        socket.deliver({ type: 'workspace-status', id: frame.id, payload: { ...(frame.payload as object), status: 'idle' } });
    };
    const one = client.watch('d1');
    const two = client.watch('d2');
    await tick();
    const { taskId } = await two.runTask({ workspaceId: 'w', command: 'build' });
    await expect(one.cancelTask('t9')).resolves.toEqual({ status: 'accepted', id: expect.any(String), delivery: expect.any(Promise) });
    await expect(two.getWorkspaceStatus('w')).resolves.toEqual({ daemonId: 'd2', workspaceId: 'w', status: 'idle' });
    const socket = gateway.last;
    expect(sentOfType(socket, 'run-task')[0].payload).toEqual({ daemonId: 'd2', taskId, workspaceId: 'w', command: 'build' });
    expect(sentOfType(socket, 'cancel-task')[0].payload).toEqual({ daemonId: 'd1', taskId: 't9' });
  });

  it('handles of one daemon share its subscription; the last one closed unsubscribes', async () => {
    const first = client.watch('d1');
    const second = client.watch('d1');
    const firstPaths = seen(first);
    const secondPaths = seen(second);
    await tick();
    const socket = gateway.last;
    expect(sentOfType(socket, 'subscribe')).toHaveLength(1);
    socket.deliver(change('d1', 1));
    first.close();
    expect(first.state).toBe(WatchState.Ended);
    expect(sentOfType(socket, 'unsubscribe')).toHaveLength(0);
    socket.deliver(change('d1', 2));
    second.close();
    expect(sentOfType(socket, 'unsubscribe').map((frame) => frame.payload)).toEqual([{ daemonId: 'd1' }]);
    expect(socket.subscriptions.size).toBe(0);
    expect([firstPaths, secondPaths]).toEqual([['p1'], ['p1', 'p2']]);
    // Watching it again subscribes from scratch.
    client.watch('d1');
    expect(sentOfType(socket, 'subscribe').at(-1)!.payload).toEqual({ daemonId: 'd1' });
  });

  it('a single-daemon client cannot watch others', () => {
    const single = new GatewayClient({ url: 'ws://gateway.test/ws', daemonId: 'd1', WebSocket: gateway.WebSocket, network: null, startClosed: true });
    expect(() => single.watch('d2')).toThrow(/without daemonId/);
    single.dispose();
  });
});
