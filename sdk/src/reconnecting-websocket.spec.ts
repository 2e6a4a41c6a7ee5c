import { jest } from '@jest/globals';
import type { NetworkMonitor } from './network.js';
import { CloseCode } from './protocol.js';
import { ConnectionState } from './reconnecting-websocket.js';
import { socketKit, URL_BASE } from './reconnecting-websocket.spec-kit.js';
import { FakeGateway } from './testing/fake-gateway.js';

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
  const kit = socketKit();

  it("connects with a fresh token and opens on the kit.gateway's connected frame, not on the socket open", async () => {
    kit.gateway.options.autoAccept = false;
    const socket = kit.create({ startClosed: true });
    const states: string[] = [];
    socket.on('statechange', ({ current }) => states.push(current));
    socket.connect();
    await kit.tick();
    expect(kit.gateway.last.token).toBe('token-1');
    expect(kit.gateway.last.url.searchParams.get('daemonId')).toBe('d1');
    kit.gateway.last.openOnly();
    expect(socket.state).toBe(ConnectionState.Connecting);
    expect(socket.readyState).toBe(0);
    kit.gateway.last.deliver({ type: 'connected', payload: {} });
    expect(socket.state).toBe(ConnectionState.Open);
    expect(socket.readyState).toBe(1);
    expect(states).toEqual(['connecting', 'open']);
    expect(socket.send({ type: 'ping' })).toBe(true);
  });

  it('accepts a URL from an async function, resolved on every attempt', async () => {
    let calls = 0;
    kit.create({ url: async () => `ws://kit.gateway.test/ws?daemonId=d${++calls}` });
    await kit.tick();
    expect(kit.gateway.last.url.searchParams.get('daemonId')).toBe('d1');
    kit.gateway.last.drop();
    await kit.tick(1000);
    expect(kit.gateway.last.url.searchParams.get('daemonId')).toBe('d2');
  });

  it('fetches a fresh token for every attempt, single-flight', async () => {
    let release: (token: string) => void = () => undefined;
    let calls = 0;
    const socket = kit.create({ getToken: () => new Promise<string>((resolve) => ((release = resolve), (calls += 1))) });
    socket.reconnect();
    socket.reconnect();
    await kit.tick();
    expect(calls).toBe(1);
    release('shared');
    await kit.tick();
    expect(kit.gateway.sockets).toHaveLength(1);
    expect(kit.gateway.last.token).toBe('shared');
    kit.gateway.last.drop();
    await kit.tick(1000);
    expect(calls).toBe(2);
  });

  it('resets the attempt count only after minUptime with a connected frame', async () => {
    const socket = kit.create({ minUptime: 5000 });
    const log = kit.record(socket);
    await kit.tick();
    kit.gateway.last.drop();
    await kit.tick(250); // attempt 0: 0.5 × 500
    kit.gateway.last.drop(); // up briefly: no reset
    await kit.tick(500); // attempt 1: 0.5 × 1000
    await kit.tick(4999);
    kit.gateway.last.drop(); // 4999 ms < minUptime: still no reset
    await kit.tick(1000); // attempt 2: 0.5 × 2000
    await kit.tick(5000);
    kit.gateway.last.drop(); // stayed up 5 s: reset
    expect(log.filter((entry) => entry.startsWith('reconnecting'))).toEqual([
      'reconnecting:1:250',
      'reconnecting:2:500',
      'reconnecting:3:1000',
      'reconnecting:1:250',
    ]);
  });

  it('never resets on a bare open without the connected frame', async () => {
    kit.gateway.options.autoAccept = false;
    const socket = kit.create({ minUptime: 100, connectionTimeout: 60_000 });
    const log = kit.record(socket);
    await kit.tick();
    kit.gateway.last.openOnly();
    await kit.tick(1000);
    kit.gateway.last.drop();
    await kit.tick(250);
    kit.gateway.last.openOnly();
    await kit.tick(1000);
    kit.gateway.last.drop();
    expect(log.filter((entry) => entry.startsWith('reconnecting'))).toEqual(['reconnecting:1:250', 'reconnecting:2:500']);
  });

  it.each([1001, 1006, 1011, 1012, 1013, 4408])('retries with backoff after close code %i', async (code) => {
    const socket = kit.create();
    const log = kit.record(socket);
    await kit.tick();
    kit.gateway.last.closeFromServer(code, 'bye');
    expect(socket.state).toBe(ConnectionState.Reconnecting);
    expect(log).toEqual(['open', `close:${code}:true`, 'reconnecting:1:250']);
    expect(socket.nextRetryAt).toBe(Date.now() + 250);
    await kit.tick(249);
    expect(kit.gateway.sockets).toHaveLength(1);
    await kit.tick(1);
    expect(kit.gateway.sockets).toHaveLength(2);
    expect(socket.state).toBe(ConnectionState.Open);
  });

  it.each([
    [4403, ConnectionState.Forbidden],
    [4400, ConnectionState.Closed],
    [4409, ConnectionState.Closed],
    [1008, ConnectionState.Closed],
    [1009, ConnectionState.Closed],
  ])('stops after close code %i with state %s and an error saying why', async (code, state) => {
    const socket = kit.create();
    const errors: Error[] = [];
    socket.on('error', ({ error }) => errors.push(error));
    await kit.tick();
    kit.gateway.last.closeFromServer(code, 'no');
    await kit.tick(600_000);
    expect(kit.gateway.sockets).toHaveLength(1);
    expect(socket.state).toBe(state);
    expect(socket.lastError).toMatchObject({ code, reason: 'no' });
    expect(errors.map((error) => (error as { code?: number }).code)).toEqual([code]);
    expect(socket.pendingTimerCount).toBe(0);
  });

  it("a socket error says where and why (the runtime's cause, when it gives one), never with the query's token", async () => {
    kit.gateway.options.autoAccept = false;
    const socket = kit.create();
    const errors: Error[] = [];
    socket.on('error', ({ error }) => errors.push(error));
    await kit.tick();
    const cause = new Error('connect ECONNREFUSED 127.0.0.1:3001');
    kit.gateway.last.onerror?.({ message: cause.message, error: cause });
    kit.gateway.last.onerror?.({});
    expect(errors.map((error) => error.message)).toEqual([
      `WebSocket error at ${URL_BASE.split('?')[0]}: connect ECONNREFUSED 127.0.0.1:3001`,
      `WebSocket error at ${URL_BASE.split('?')[0]}`,
    ]);
    expect(errors[0].cause).toBe(cause);
    expect(errors.map((error) => error.message).join()).not.toContain('token-');
  });

  it('retries 4401 once with a fresh token, then stops as unauthorized', async () => {
    kit.gateway.options.autoAccept = false;
    const socket = kit.create();
    await kit.tick();
    kit.gateway.last.closeFromServer(CloseCode.Unauthorized, 'token expired');
    await kit.tick(250);
    expect(kit.gateway.last.token).toBe('token-2');
    kit.gateway.last.closeFromServer(CloseCode.Unauthorized, 'token expired');
    await kit.tick(600_000);
    expect(kit.gateway.sockets).toHaveLength(2);
    expect(socket.state).toBe(ConnectionState.Unauthorized);
  });

  it('counts 4401 in a row only: a successful connection in between resets it', async () => {
    kit.gateway.options.autoAccept = false;
    const socket = kit.create();
    await kit.tick();
    kit.gateway.last.closeFromServer(CloseCode.Unauthorized);
    await kit.tick(250);
    kit.gateway.last.accept();
    kit.gateway.last.closeFromServer(CloseCode.Unauthorized);
    await kit.tick(1000);
    expect(socket.state).toBe(ConnectionState.Reconnecting);
    expect(kit.gateway.sockets).toHaveLength(3);
  });

  it('honours a retry hint in the close reason', async () => {
    const socket = kit.create();
    const log = kit.record(socket);
    await kit.tick();
    kit.gateway.last.closeFromServer(CloseCode.ServiceRestart, 'server shutting down; retry-after-ms=3210');
    expect(log.at(-1)).toBe('reconnecting:1:3210');
    await kit.tick(3209);
    expect(kit.gateway.sockets).toHaveLength(1);
    await kit.tick(1);
    expect(kit.gateway.sockets).toHaveLength(2);
  });

  it('does not reconnect after close() and gives up after maxRetries', async () => {
    const closed = kit.create();
    await kit.tick();
    closed.close();
    await kit.tick(600_000);
    expect(kit.gateway.sockets).toHaveLength(1);
    expect(kit.gateway.last.closedByClient).toEqual({ code: 1000, reason: 'client closed' });
    expect(closed.state).toBe(ConnectionState.Closed);

    kit.gateway = new FakeGateway({ autoAccept: false });
    const limited = kit.create({ maxRetries: 2 });
    await kit.tick();
    for (let i = 0; i < 3; i += 1) {
      kit.gateway.last.drop();
      await kit.tick(60_000);
    }
    expect(kit.gateway.sockets).toHaveLength(3);
    expect(limited.state).toBe(ConnectionState.Closed);
  });

  it('abandons an attempt that does not produce connected within connectionTimeout', async () => {
    kit.gateway.options.autoAccept = false;
    const socket = kit.create({ connectionTimeout: 2000 });
    const log = kit.record(socket);
    await kit.tick();
    kit.gateway.last.openOnly();
    await kit.tick(2000);
    expect(kit.gateway.sockets[0].closedByClient?.reason).toBe('connection timeout');
    expect(log).toEqual(['close:1006:true', 'reconnecting:1:250']);
    await kit.tick(250);
    expect(kit.gateway.sockets).toHaveLength(2);
  });

  describe('queue', () => {
    it('queues while disconnected and flushes in order before open reaches the app', async () => {
      kit.gateway.options.autoAccept = false;
      const socket = kit.create();
      const order: string[] = [];
      socket.on('open', () => order.push(`open after ${kit.gateway.last.sent.length} sent`));
      expect(socket.send({ type: 'a' })).toBe(false);
      expect(socket.send('{"type":"b"}')).toBe(false);
      await kit.tick();
      kit.gateway.last.openOnly();
      expect(socket.send({ type: 'c' })).toBe(false);
      expect(kit.gateway.last.sent).toEqual([]);
      kit.gateway.last.deliver({ type: 'connected', payload: {} });
      expect(kit.gateway.last.frames.map((frame) => frame.type)).toEqual(['a', 'b', 'c']);
      expect(order).toEqual(['open after 3 sent']);
      expect(socket.queuedMessageCount).toBe(0);
    });

    it('drops the oldest past maxQueuedMessages, with a drop event', async () => {
      kit.gateway.options.autoAccept = false;
      const socket = kit.create({ maxQueuedMessages: 2 });
      const log = kit.record(socket);
      socket.send('1');
      socket.send('2');
      socket.send('3');
      expect(log).toEqual(['drop:1']);
      expect(socket.queuedMessageCount).toBe(2);
      await kit.tick();
      kit.gateway.last.accept();
      expect(kit.gateway.last.sent).toEqual(['2', '3']);
    });

    it('drops the oldest past maxQueuedBytes, counting UTF-8 bytes', async () => {
      const socket = kit.create({ maxQueuedBytes: 10, startClosed: true });
      const log = kit.record(socket);
      socket.send('éééé'); // 8 bytes
      socket.send('ab'); // 10 bytes in all: fits
      expect(log).toEqual([]);
      socket.send('c');
      expect(log).toEqual(['drop:éééé']);
      expect(socket.queuedMessageCount).toBe(2);
    });

    it('never queues volatile messages', async () => {
      const socket = kit.create({ startClosed: true });
      expect(socket.send({ type: 'ping' }, { volatile: true })).toBe(false);
      expect(socket.queuedMessageCount).toBe(0);
      socket.connect();
      await kit.tick();
      expect(kit.gateway.last.sent).toEqual([]);
      expect(socket.send({ type: 'ping' }, { volatile: true })).toBe(true);
    });
  });

  describe('online / offline', () => {
    it('closes promptly when offline, does not spin while offline, reconnects at once when online', async () => {
      const network = new ManualNetwork();
      const socket = kit.create({ network });
      await kit.tick();
      network.set(false);
      expect(kit.gateway.last.closedByClient?.reason).toBe('offline');
      expect(socket.state).toBe(ConnectionState.Reconnecting);
      await kit.tick(600_000);
      expect(kit.gateway.sockets).toHaveLength(1);
      network.set(true);
      await kit.tick();
      expect(kit.gateway.sockets).toHaveLength(2);
      expect(socket.state).toBe(ConnectionState.Open);
    });

    it('an online event cuts a pending backoff short', async () => {
      const network = new ManualNetwork();
      kit.create({ network, minDelay: 10_000 });
      await kit.tick();
      kit.gateway.last.drop();
      await kit.tick(100);
      expect(kit.gateway.sockets).toHaveLength(1);
      network.set(true);
      await kit.tick();
      expect(kit.gateway.sockets).toHaveLength(2);
    });
  });

  describe('cleanup', () => {
    it.each([
      ['open with heartbeats running', async () => undefined],
      ['waiting to reconnect', async () => kit.gateway.last.drop()],
      [
        'mid-attempt',
        async () => {
          kit.gateway.options.autoAccept = false;
          kit.gateway.last.drop();
          await kit.tick(250);
        },
      ],
    ])('close() and dispose() leave no timers or listeners when %s', async (_label, setup) => {
      const network = new ManualNetwork();
      const socket = kit.create({ network });
      socket.on('message', () => undefined);
      await kit.tick();
      await setup();
      socket.close();
      expect(socket.pendingTimerCount).toBe(0);
      await kit.tick(); // the fake socket delivers its close event as a (faked) microtask
      expect(jest.getTimerCount()).toBe(0);
      expect(network.subscribers).toBe(0);
      socket.dispose();
      expect(socket.listenerCount).toBe(0);
      expect(jest.getTimerCount()).toBe(0);
      expect(() => socket.send('x')).toThrow('disposed');
    });
  });
});
