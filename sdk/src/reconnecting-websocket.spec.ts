import { jest } from '@jest/globals';
import type { NetworkMonitor } from './network.js';
import { CloseCode } from './protocol.js';
import { ConnectionState, ReconnectingWebSocket, type ReconnectingWebSocketOptions } from './reconnecting-websocket.js';
import { FakeGateway } from './testing/fake-gateway.js';

const URL_BASE = 'ws://gateway.test/ws?daemonId=d1';

class ManualNetwork implements NetworkMonitor {
  online = true;
  private listeners: Array<[() => void, () => void]> = [];
  isOnline(): boolean {
    return this.online;
  }
  subscribe(onOnline: () => void, onOffline: () => void) {
    const entry: [() => void, () => void] = [onOnline, onOffline];
    this.listeners.push(entry);
    return () => {
      this.listeners = this.listeners.filter((item) => item !== entry);
    };
  }
  set(online: boolean): void {
    this.online = online;
    for (const [onOnline, onOffline] of [...this.listeners]) (online ? onOnline : onOffline)();
  }
  get subscribers(): number {
    return this.listeners.length;
  }
}

describe('ReconnectingWebSocket', () => {
  let gateway: FakeGateway;
  let tokens: number;
  let rws: ReconnectingWebSocket | undefined;

  const tick = (ms = 0) => jest.advanceTimersByTimeAsync(ms);

  function create(options: Partial<ReconnectingWebSocketOptions> = {}): ReconnectingWebSocket {
    rws = new ReconnectingWebSocket({
      url: URL_BASE,
      getToken: () => `token-${++tokens}`,
      WebSocket: gateway.WebSocket,
      random: () => 0.5,
      network: null,
      ...options,
    });
    return rws;
  }

  function record(target: ReconnectingWebSocket) {
    const log: string[] = [];
    target.on('open', () => log.push('open'));
    target.on('close', (event) => log.push(`close:${event.code}:${event.willRetry}`));
    target.on('reconnecting', (event) => log.push(`reconnecting:${event.attempt}:${event.delay}`));
    target.on('drop', (event) => log.push(`drop:${event.message}`));
    return log;
  }

  beforeEach(() => {
    jest.useFakeTimers();
    gateway = new FakeGateway();
    tokens = 0;
    rws = undefined;
  });

  afterEach(() => {
    rws?.dispose();
    jest.useRealTimers();
  });

  it("connects with a fresh token and opens on the gateway's connected frame, not on the socket open", async () => {
    gateway.options.autoAccept = false;
    const socket = create({ startClosed: true });
    const states: string[] = [];
    socket.on('statechange', ({ current }) => states.push(current));
    socket.connect();
    await tick();
    expect(gateway.last.token).toBe('token-1');
    expect(gateway.last.url.searchParams.get('daemonId')).toBe('d1');
    gateway.last.openOnly();
    expect(socket.state).toBe(ConnectionState.Connecting);
    expect(socket.readyState).toBe(0);
    gateway.last.deliver({ type: 'connected', payload: {} });
    expect(socket.state).toBe(ConnectionState.Open);
    expect(socket.readyState).toBe(1);
    expect(states).toEqual(['connecting', 'open']);
    expect(socket.send({ type: 'ping' })).toBe(true);
  });

  it('accepts a URL from an async function, resolved on every attempt', async () => {
    let calls = 0;
    create({ url: async () => `ws://gateway.test/ws?daemonId=d${++calls}` });
    await tick();
    expect(gateway.last.url.searchParams.get('daemonId')).toBe('d1');
    gateway.last.drop();
    await tick(1000);
    expect(gateway.last.url.searchParams.get('daemonId')).toBe('d2');
  });

  it('fetches a fresh token for every attempt, single-flight', async () => {
    let release: (token: string) => void = () => undefined;
    let calls = 0;
    const socket = create({ getToken: () => new Promise<string>((resolve) => ((release = resolve), (calls += 1))) });
    socket.reconnect();
    socket.reconnect();
    await tick();
    expect(calls).toBe(1);
    release('shared');
    await tick();
    expect(gateway.sockets).toHaveLength(1);
    expect(gateway.last.token).toBe('shared');
    gateway.last.drop();
    await tick(1000);
    expect(calls).toBe(2);
  });

  it('resets the attempt count only after minUptime with a connected frame', async () => {
    const socket = create({ minUptime: 5000 });
    const log = record(socket);
    await tick();
    gateway.last.drop();
    await tick(250); // attempt 0: 0.5 × 500
    gateway.last.drop(); // up briefly: no reset
    await tick(500); // attempt 1: 0.5 × 1000
    await tick(4999);
    gateway.last.drop(); // 4999 ms < minUptime: still no reset
    await tick(1000); // attempt 2: 0.5 × 2000
    await tick(5000);
    gateway.last.drop(); // stayed up 5 s: reset
    expect(log.filter((entry) => entry.startsWith('reconnecting'))).toEqual([
      'reconnecting:1:250',
      'reconnecting:2:500',
      'reconnecting:3:1000',
      'reconnecting:1:250',
    ]);
  });

  it('never resets on a bare open without the connected frame', async () => {
    gateway.options.autoAccept = false;
    const socket = create({ minUptime: 100, connectionTimeout: 60_000 });
    const log = record(socket);
    await tick();
    gateway.last.openOnly();
    await tick(1000);
    gateway.last.drop();
    await tick(250);
    gateway.last.openOnly();
    await tick(1000);
    gateway.last.drop();
    expect(log.filter((entry) => entry.startsWith('reconnecting'))).toEqual(['reconnecting:1:250', 'reconnecting:2:500']);
  });

  it.each([1001, 1006, 1011, 1012, 1013, 4408])('retries with backoff after close code %i', async (code) => {
    const socket = create();
    const log = record(socket);
    await tick();
    gateway.last.closeFromServer(code, 'bye');
    expect(socket.state).toBe(ConnectionState.Reconnecting);
    expect(log).toEqual(['open', `close:${code}:true`, 'reconnecting:1:250']);
    expect(socket.nextRetryAt).toBe(Date.now() + 250);
    await tick(249);
    expect(gateway.sockets).toHaveLength(1);
    await tick(1);
    expect(gateway.sockets).toHaveLength(2);
    expect(socket.state).toBe(ConnectionState.Open);
  });

  it.each([
    [4403, ConnectionState.Forbidden],
    [4400, ConnectionState.Closed],
    [4409, ConnectionState.Closed],
    [1008, ConnectionState.Closed],
    [1009, ConnectionState.Closed],
  ])('stops after close code %i with state %s and an error saying why', async (code, state) => {
    const socket = create();
    const errors: Error[] = [];
    socket.on('error', ({ error }) => errors.push(error));
    await tick();
    gateway.last.closeFromServer(code, 'no');
    await tick(600_000);
    expect(gateway.sockets).toHaveLength(1);
    expect(socket.state).toBe(state);
    expect(socket.lastError).toMatchObject({ code, reason: 'no' });
    expect(errors.map((error) => (error as { code?: number }).code)).toEqual([code]);
    expect(socket.pendingTimerCount).toBe(0);
  });

  it("a socket error says where and why (the runtime's cause, when it gives one), never with the query's token", async () => {
    gateway.options.autoAccept = false;
    const socket = create();
    const errors: Error[] = [];
    socket.on('error', ({ error }) => errors.push(error));
    await tick();
    const cause = new Error('connect ECONNREFUSED 127.0.0.1:3001');
    gateway.last.onerror?.({ message: cause.message, error: cause });
    gateway.last.onerror?.({});
    expect(errors.map((error) => error.message)).toEqual([
      `WebSocket error at ${URL_BASE.split('?')[0]}: connect ECONNREFUSED 127.0.0.1:3001`,
      `WebSocket error at ${URL_BASE.split('?')[0]}`,
    ]);
    expect(errors[0].cause).toBe(cause);
    expect(errors.map((error) => error.message).join()).not.toContain('token-');
  });

  it('retries 4401 once with a fresh token, then stops as unauthorized', async () => {
    gateway.options.autoAccept = false;
    const socket = create();
    await tick();
    gateway.last.closeFromServer(CloseCode.Unauthorized, 'token expired');
    await tick(250);
    expect(gateway.last.token).toBe('token-2');
    gateway.last.closeFromServer(CloseCode.Unauthorized, 'token expired');
    await tick(600_000);
    expect(gateway.sockets).toHaveLength(2);
    expect(socket.state).toBe(ConnectionState.Unauthorized);
  });

  it('counts 4401 in a row only: a successful connection in between resets it', async () => {
    gateway.options.autoAccept = false;
    const socket = create();
    await tick();
    gateway.last.closeFromServer(CloseCode.Unauthorized);
    await tick(250);
    gateway.last.accept();
    gateway.last.closeFromServer(CloseCode.Unauthorized);
    await tick(1000);
    expect(socket.state).toBe(ConnectionState.Reconnecting);
    expect(gateway.sockets).toHaveLength(3);
  });

  it('honours a retry hint in the close reason', async () => {
    const socket = create();
    const log = record(socket);
    await tick();
    gateway.last.closeFromServer(CloseCode.ServiceRestart, 'server shutting down; retry-after-ms=3210');
    expect(log.at(-1)).toBe('reconnecting:1:3210');
    await tick(3209);
    expect(gateway.sockets).toHaveLength(1);
    await tick(1);
    expect(gateway.sockets).toHaveLength(2);
  });

  it('does not reconnect after close() and gives up after maxRetries', async () => {
    const closed = create();
    await tick();
    closed.close();
    await tick(600_000);
    expect(gateway.sockets).toHaveLength(1);
    expect(gateway.last.closedByClient).toEqual({ code: 1000, reason: 'client closed' });
    expect(closed.state).toBe(ConnectionState.Closed);

    gateway = new FakeGateway({ autoAccept: false });
    const limited = create({ maxRetries: 2 });
    await tick();
    for (let i = 0; i < 3; i += 1) {
      gateway.last.drop();
      await tick(60_000);
    }
    expect(gateway.sockets).toHaveLength(3);
    expect(limited.state).toBe(ConnectionState.Closed);
  });

  it('abandons an attempt that does not produce connected within connectionTimeout', async () => {
    gateway.options.autoAccept = false;
    const socket = create({ connectionTimeout: 2000 });
    const log = record(socket);
    await tick();
    gateway.last.openOnly();
    await tick(2000);
    expect(gateway.sockets[0].closedByClient?.reason).toBe('connection timeout');
    expect(log).toEqual(['close:1006:true', 'reconnecting:1:250']);
    await tick(250);
    expect(gateway.sockets).toHaveLength(2);
  });

  describe('queue', () => {
    it('queues while disconnected and flushes in order before open reaches the app', async () => {
      gateway.options.autoAccept = false;
      const socket = create();
      const order: string[] = [];
      socket.on('open', () => order.push(`open after ${gateway.last.sent.length} sent`));
      expect(socket.send({ type: 'a' })).toBe(false);
      expect(socket.send('{"type":"b"}')).toBe(false);
      await tick();
      gateway.last.openOnly();
      expect(socket.send({ type: 'c' })).toBe(false);
      expect(gateway.last.sent).toEqual([]);
      gateway.last.deliver({ type: 'connected', payload: {} });
      expect(gateway.last.frames.map((frame) => frame.type)).toEqual(['a', 'b', 'c']);
      expect(order).toEqual(['open after 3 sent']);
      expect(socket.queuedMessageCount).toBe(0);
    });

    it('drops the oldest past maxQueuedMessages, with a drop event', async () => {
      gateway.options.autoAccept = false;
      const socket = create({ maxQueuedMessages: 2 });
      const log = record(socket);
      socket.send('1');
      socket.send('2');
      socket.send('3');
      expect(log).toEqual(['drop:1']);
      expect(socket.queuedMessageCount).toBe(2);
      await tick();
      gateway.last.accept();
      expect(gateway.last.sent).toEqual(['2', '3']);
    });

    it('drops the oldest past maxQueuedBytes, counting UTF-8 bytes', async () => {
      const socket = create({ maxQueuedBytes: 10, startClosed: true });
      const log = record(socket);
      socket.send('éééé'); // 8 bytes
      socket.send('ab'); // 10 bytes in all: fits
      expect(log).toEqual([]);
      socket.send('c');
      expect(log).toEqual(['drop:éééé']);
      expect(socket.queuedMessageCount).toBe(2);
    });

    it('never queues volatile messages', async () => {
      const socket = create({ startClosed: true });
      expect(socket.send({ type: 'ping' }, { volatile: true })).toBe(false);
      expect(socket.queuedMessageCount).toBe(0);
      socket.connect();
      await tick();
      expect(gateway.last.sent).toEqual([]);
      expect(socket.send({ type: 'ping' }, { volatile: true })).toBe(true);
    });
  });

  describe('online / offline', () => {
    it('closes promptly when offline, does not spin while offline, reconnects at once when online', async () => {
      const network = new ManualNetwork();
      const socket = create({ network });
      await tick();
      network.set(false);
      expect(gateway.last.closedByClient?.reason).toBe('offline');
      expect(socket.state).toBe(ConnectionState.Reconnecting);
      await tick(600_000);
      expect(gateway.sockets).toHaveLength(1);
      network.set(true);
      await tick();
      expect(gateway.sockets).toHaveLength(2);
      expect(socket.state).toBe(ConnectionState.Open);
    });

    it('an online event cuts a pending backoff short', async () => {
      const network = new ManualNetwork();
      create({ network, minDelay: 10_000 });
      await tick();
      gateway.last.drop();
      await tick(100);
      expect(gateway.sockets).toHaveLength(1);
      network.set(true);
      await tick();
      expect(gateway.sockets).toHaveLength(2);
    });
  });

  describe('cleanup', () => {
    it.each([
      ['open with heartbeats running', async () => undefined],
      ['waiting to reconnect', async () => gateway.last.drop()],
      [
        'mid-attempt',
        async () => {
          gateway.options.autoAccept = false;
          gateway.last.drop();
          await tick(250);
        },
      ],
    ])('close() and dispose() leave no timers or listeners when %s', async (_label, setup) => {
      const network = new ManualNetwork();
      const socket = create({ network });
      socket.on('message', () => undefined);
      await tick();
      await setup();
      socket.close();
      expect(socket.pendingTimerCount).toBe(0);
      await tick(); // the fake socket delivers its close event as a (faked) microtask
      expect(jest.getTimerCount()).toBe(0);
      expect(network.subscribers).toBe(0);
      socket.dispose();
      expect(socket.listenerCount).toBe(0);
      expect(jest.getTimerCount()).toBe(0);
      expect(() => socket.send('x')).toThrow('disposed');
    });
  });
});
