import { jest } from '@jest/globals';
import { CrossTabClient, type TabApis } from './cross-tab-client.js';
import type { DaemonWatch } from './daemon-watch.js';
import { WatchState } from './daemon-watch.js';
import { ConnectionState } from './reconnecting-websocket.js';
import { startSharedWorkerRelay } from './shared-worker-relay.js';
import { FakeGateway, type FakeSocket } from './testing/fake-gateway.js';

/** BroadcastChannel and Web Locks for several "tabs" in one process: delivery is asynchronous, in order. */
class FakeBrowser implements TabApis {
  private readonly channels = new Set<{ name: string; onmessage: ((event: { data: unknown }) => void) | null; closed: boolean }>();
  private readonly holders = new Map<string, Array<() => Promise<void>>>();
  readonly BroadcastChannel: TabApis['BroadcastChannel'];
  readonly locks: TabApis['locks'];

  constructor() {
    const channels = this.channels;
    this.BroadcastChannel = class {
      onmessage: ((event: { data: unknown }) => void) | null = null;
      closed = false;
      constructor(readonly name: string) {
        channels.add(this);
      }
      postMessage(message: unknown): void {
        const data = structuredClone(message);
        for (const channel of channels) {
          if (channel !== this && channel.name === this.name) queueMicrotask(() => !channel.closed && channel.onmessage?.({ data }));
        }
      }
      close(): void {
        this.closed = true;
        channels.delete(this);
      }
    };
    this.locks = {
      request: (name, callback) => {
        const queue = this.holders.get(name) ?? [];
        this.holders.set(name, queue);
        queue.push(callback);
        if (queue.length === 1) this.grant(name);
        return Promise.resolve();
      },
    };
  }

  private grant(name: string): void {
    const queue = this.holders.get(name)!;
    const callback = queue[0];
    if (!callback) return;
    void callback().then(() => {
      queue.shift();
      this.grant(name);
    });
  }
}

const tick = (ms = 0) => jest.advanceTimersByTimeAsync(ms);

const change = (daemonId: string, seq: number) => ({
  type: 'file-change',
  daemonId,
  epoch: 'fake',
  seq,
  payload: { workspaceId: 'w', path: `p${seq}`, event: 'add' },
});

function seqs(watch: DaemonWatch): number[] {
  const seen: number[] = [];
  watch.on('file-change', (frame) => seen.push(frame.seq));
  return seen;
}

describe('CrossTabClient: one connection for every tab', () => {
  let gateway: FakeGateway;
  let browser: FakeBrowser;
  let tabs: CrossTabClient[];
  const openTab = () => {
    const tab = new CrossTabClient({
      url: 'ws://gateway.test/ws',
      getToken: () => 'tok',
      WebSocket: gateway.WebSocket,
      network: null,
      tabApis: browser,
      minDelay: 10,
      maxDelay: 50,
    });
    tabs.push(tab);
    return tab;
  };
  const deliverTo = (socket: FakeSocket, frame: object) => socket.deliver(frame);

  beforeEach(() => {
    jest.useFakeTimers();
    gateway = new FakeGateway();
    browser = new FakeBrowser();
    tabs = [];
  });

  afterEach(() => {
    for (const tab of tabs) tab.dispose();
    jest.useRealTimers();
  });

  it('three tabs watching five daemons hold one WebSocket; each tab sees its daemons once, in order', async () => {
    const [first, second, third] = [openTab(), openTab(), openTab()];
    const watches = [
      ['d1', 'd2', 'd3'].map((d) => first.watch(d)),
      ['d2', 'd3', 'd4'].map((d) => second.watch(d)),
      ['d4', 'd5', 'd1'].map((d) => third.watch(d)),
    ];
    const seen = watches.map((row) => row.map(seqs));
    await tick(10);
    expect(gateway.sockets).toHaveLength(1);
    expect([first.isLeader, second.isLeader, third.isLeader]).toEqual([true, false, false]);
    const socket = gateway.last;
    expect(new Set(socket.subscriptions)).toEqual(new Set(['d1', 'd2', 'd3', 'd4', 'd5']));
    expect(watches.flat().every((watch) => watch.state === WatchState.Subscribed)).toBe(true);
    for (let seq = 1; seq <= 3; seq += 1) for (const daemonId of ['d1', 'd2', 'd3', 'd4', 'd5']) deliverTo(socket, change(daemonId, seq));
    await tick();
    expect(seen).toEqual(Array.from({ length: 3 }, () => Array.from({ length: 3 }, () => [1, 2, 3])));
    expect([first.state, second.state, third.state]).toEqual([ConnectionState.Open, ConnectionState.Open, ConnectionState.Open]);
  });

  it('when the leader tab closes the next one opens the connection and every watch resumes from its position', async () => {
    const [leader, next, other] = [openTab(), openTab(), openTab()];
    leader.watch('d1');
    const nextWatch = next.watch('d1');
    const otherWatch = other.watch('d2');
    const [nextSeen, otherSeen] = [seqs(nextWatch), seqs(otherWatch)];
    await tick(10);
    const old = gateway.last;
    for (const seq of [1, 2, 3]) deliverTo(old, change('d1', seq));
    deliverTo(old, change('d2', 1));
    await tick();
    leader.dispose();
    gateway.options.autoSubscribe = false;
    await tick(10);
    expect(next.isLeader).toBe(true);
    expect(gateway.sockets).toHaveLength(2);
    const fresh = gateway.last;
    const subscribes = fresh.frames.filter((frame) => frame.type === 'subscribe');
    expect(subscribes.map((frame) => frame.payload)).toEqual(
      expect.arrayContaining([
        { daemonId: 'd1', since: 'fake:3' },
        { daemonId: 'd2', since: 'fake:1' },
      ]),
    );
    // The gateway replays from each position; frames before and at the seam are not shown again.
    for (const frame of subscribes) {
      const { daemonId, since } = frame.payload as { daemonId: string; since: string };
      deliverTo(fresh, { type: 'subscribed', id: frame.id, payload: fresh.subscribedPayload(daemonId, { epoch: 'fake', seq: Number(since.split(':')[1]) }) });
    }
    deliverTo(fresh, change('d1', 3));
    deliverTo(fresh, change('d1', 4));
    deliverTo(fresh, change('d2', 2));
    await tick();
    expect(nextSeen).toEqual([1, 2, 3, 4]);
    expect(otherSeen).toEqual([1, 2]);
    expect(old.readyState).toBe(3);
  });

  it('a tab joining a daemon already watched gets its snapshot; a tab behind gets a rewind the others do not see twice', async () => {
    const [leader, late] = [openTab(), openTab()];
    const early = leader.watch('d1');
    const earlySeen = seqs(early);
    await tick(10);
    const socket = gateway.last;
    for (const seq of [1, 2]) deliverTo(socket, change('d1', seq));
    const joined = late.watch('d1');
    const lateSeen = seqs(joined);
    await tick();
    const resume = socket.frames.filter((frame) => frame.type === 'subscribe').at(-1)!;
    expect(resume.payload).toEqual({ daemonId: 'd1', since: 'fake:2' });
    expect(joined.position).toEqual({ epoch: 'fake', seq: 2 });
    // A gap in one tab: it asks for a rewind; the replay goes to every tab and each drops its repeats.
    deliverTo(socket, change('d1', 3));
    await tick();
    expect([earlySeen, lateSeen]).toEqual([[1, 2, 3], [3]]);
    gateway.options.autoSubscribe = false;
    deliverTo(socket, change('d1', 5));
    await tick();
    // Both tabs saw the gap; one rewind serves both.
    const subscribesBefore = socket.frames.filter((frame) => frame.type === 'subscribe').length;
    const rewind = socket.frames.filter((frame) => frame.type === 'subscribe').at(-1)!;
    expect(rewind.payload).toEqual({ daemonId: 'd1', since: 'fake:3' });
    expect(subscribesBefore).toBe(3);
    deliverTo(socket, { type: 'subscribed', id: rewind.id, payload: socket.subscribedPayload('d1', { epoch: 'fake', seq: 3 }) });
    for (const seq of [4, 5]) deliverTo(socket, change('d1', seq));
    await tick();
    expect([earlySeen, lateSeen]).toEqual([
      [1, 2, 3, 4, 5],
      [3, 4, 5],
    ]);
  });

  it("each tab's commands and requests come back to that tab alone", async () => {
    gateway.onFrame = (socket, frame) => {
      if (frame.type === 'run-task') socket.deliver({ type: 'ack', id: frame.id, payload: { status: 'accepted' } });
      if (frame.type === 'get-workspace-status')
        socket.deliver({ type: 'workspace-status', id: frame.id, payload: { ...(frame.payload as object), status: 'idle' } });
    };
    const [leader, follower] = [openTab(), openTab()];
    const mine = follower.watch('d2');
    leader.watch('d1');
    await tick(10);
    const ran = mine.runTask({ workspaceId: 'w', command: 'ls', taskId: 'from-follower' });
    const status = mine.getWorkspaceStatus('w');
    await tick();
    await expect(ran).resolves.toMatchObject({ taskId: 'from-follower', status: 'accepted', id: expect.any(String) });
    await expect(status).resolves.toEqual({ daemonId: 'd2', workspaceId: 'w', status: 'idle' });
    expect(gateway.last.frames.find((frame) => frame.type === 'run-task')!.payload).toMatchObject({ daemonId: 'd2', taskId: 'from-follower' });
  });

  it('a command unanswered when the shared connection dropped goes out again with its id', async () => {
    const [, follower] = [openTab(), openTab()];
    const watch = follower.watch('d1');
    await tick(10);
    const first = gateway.last;
    const ran = watch.runTask({ workspaceId: 'w', command: 'ls', taskId: 't1' });
    await tick();
    const sent = first.frames.find((frame) => frame.type === 'run-task')!;
    first.drop();
    gateway.onFrame = (socket, frame) => {
      if (frame.type === 'run-task') socket.deliver({ type: 'ack', id: frame.id, payload: { status: 'duplicate', outcome: 'accepted' } });
    };
    await tick(200);
    expect(gateway.sockets).toHaveLength(2);
    expect(gateway.last.frames.filter((frame) => frame.type === 'run-task')).toEqual([sent]);
    await expect(ran).resolves.toMatchObject({ taskId: 't1', status: 'duplicate', outcome: 'accepted' });
  });

  it("a command's delivery resolves in the tab that sent it, from its command-status or a resend's answer", async () => {
    gateway.onFrame = (socket, frame) => {
      if (frame.type === 'run-task') socket.deliver({ type: 'ack', id: frame.id, payload: { status: 'accepted' } });
    };
    const [leader, follower] = [openTab(), openTab()];
    const theirs = leader.watch('d1');
    const mine = follower.watch('d1');
    await tick(10);
    const answers = Promise.all([
      mine.runTask({ workspaceId: 'w', command: 'ls', taskId: 'a' }),
      theirs.runTask({ workspaceId: 'w', command: 'ls', taskId: 'b' }),
    ]);
    await tick();
    const [first, second] = await answers;
    const settled: string[] = [];
    void first.delivery!.then((status) => settled.push(`a ${status}`));
    void second.delivery!.then((status) => settled.push(`b ${status}`));
    gateway.last.deliver({ type: 'command-status', id: first.id, payload: { status: 'delivered' } });
    await tick();
    expect(settled).toEqual(['a delivered']);
    // The shared connection drops before the second's status: the leader's tab asks again, and the answer settles it.
    gateway.onFrame = (socket, frame) => {
      if (frame.type === 'run-task') socket.deliver({ type: 'ack', id: frame.id, payload: { status: 'duplicate', outcome: 'expired' } });
    };
    gateway.last.drop();
    await tick(200);
    expect(gateway.last.frames.filter((frame) => frame.type === 'run-task').map((frame) => frame.id)).toEqual([second.id]);
    expect(settled).toEqual(['a delivered', 'b expired']);
  });

  it('a forbidden daemon ends in every tab watching it, and the others carry on', async () => {
    gateway.options.autoSubscribe = false;
    gateway.onFrame = (socket, frame) => {
      if (frame.type !== 'subscribe') return;
      if ((frame.payload as { daemonId: string }).daemonId === 'nope')
        socket.deliver({ type: 'error', id: frame.id, payload: { code: 'forbidden', message: 'no' } });
      else socket.answerSubscription(frame);
    };
    const [leader, follower] = [openTab(), openTab()];
    const refused = follower.watch('nope');
    const allowed = leader.watch('d1');
    const ended: string[] = [];
    refused.on('ended', ({ reason }) => ended.push(reason));
    await tick(10);
    expect(ended).toEqual(['forbidden']);
    expect(allowed.state).toBe(WatchState.Subscribed);
  });
});

describe('CrossTabClient with a SharedWorker holding the connection', () => {
  const waitUntil = async (condition: () => boolean, label: string) => {
    const deadline = Date.now() + 5000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  let gateway: FakeGateway;
  let tabs: CrossTabClient[];
  const scope: { onconnect: ((event: { ports: readonly MessagePort[] }) => void) | null } = { onconnect: null };
  const globals = globalThis as unknown as { WebSocket?: unknown };
  let previousWebSocket: unknown;
  /** The worker's ends of the tabs' channels. */
  let workerPorts: MessagePort[];
  let worker: { stop(): void };

  beforeEach(() => {
    workerPorts = [];
    gateway = new FakeGateway();
    tabs = [];
    // The worker has no options object of the tab's: it uses the global WebSocket, as in a browser.
    previousWebSocket = globals.WebSocket;
    globals.WebSocket = gateway.WebSocket;
    worker = startSharedWorkerRelay(scope);
  });

  afterEach(() => {
    for (const tab of tabs) tab.dispose();
    globals.WebSocket = previousWebSocket;
    for (const socket of gateway.open) socket.closeFromServer(1001);
    worker.stop();
    for (const port of workerPorts) port.close();
  });

  const openTab = (tokens: string[]) => {
    const tab = new CrossTabClient({
      url: 'ws://gateway.test/ws',
      getToken: () => {
        const token = `tok-${tokens.length}`;
        tokens.push(token);
        return token;
      },
      minDelay: 10,
      maxDelay: 50,
      sharedWorker: () => {
        const { port1, port2 } = new MessageChannel();
        workerPorts.push(port2);
        scope.onconnect!({ ports: [port2] });
        return { port: port1 };
      },
    });
    tabs.push(tab);
    return tab;
  };

  it('every tab shares the worker’s one connection; a tab closing changes nothing for the others', async () => {
    const tokens: string[] = [];
    const [first, second, third] = [openTab([]), openTab(tokens), openTab([])];
    const watches = [first.watch('d1'), second.watch('d1'), third.watch('d2')];
    const seen = watches.map(seqs);
    await waitUntil(() => watches.every((watch) => watch.state === WatchState.Subscribed), 'all subscribed');
    expect(gateway.sockets).toHaveLength(1);
    expect(gateway.last.token).toMatch(/^tok-/);
    const socket = gateway.last;
    for (const seq of [1, 2]) socket.deliver(change('d1', seq));
    socket.deliver(change('d2', 1));
    await waitUntil(() => seen[0].length === 2 && seen[1].length === 2 && seen[2].length === 1, 'first events');
    first.dispose();
    socket.deliver(change('d1', 3));
    await waitUntil(() => seen[1].length === 3, 'events after a tab closed');
    expect(gateway.sockets).toHaveLength(1);
    expect(seen).toEqual([[1, 2], [1, 2, 3], [1]]);
    expect([second.isLeader, second.state]).toEqual([false, ConnectionState.Open]);
    // The last tab gone, the worker lets the connection go.
    second.dispose();
    third.dispose();
    await waitUntil(() => socket.readyState === 3, 'the connection closed');
  });
});
