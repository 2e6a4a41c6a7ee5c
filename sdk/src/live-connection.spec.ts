import { jest } from '@jest/globals';
import { ConnectionState, ReconnectingWebSocket, type ReconnectingWebSocketOptions } from './reconnecting-websocket.js';
import { FakeGateway } from './testing/fake-gateway.js';

const URL_BASE = 'ws://gateway.test/ws?daemonId=d1';

describe('ReconnectingWebSocket on a live connection', () => {
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

  describe('heartbeat', () => {
    it('pings every heartbeatInterval and stays up while pongs come back', async () => {
      const socket = create({ heartbeatInterval: 1000, heartbeatTimeout: 500 });
      await tick();
      await tick(10_000);
      expect(gateway.sockets).toHaveLength(1);
      expect(gateway.last.frames.filter((frame) => frame.type === 'ping').length).toBeGreaterThanOrEqual(6);
      expect(socket.state).toBe(ConnectionState.Open);
    });

    it('closes and reconnects when nothing answers within heartbeatTimeout', async () => {
      gateway.options.autoPong = false;
      const socket = create({ heartbeatInterval: 1000, heartbeatTimeout: 500 });
      const log = record(socket);
      await tick();
      await tick(1000);
      expect(gateway.last.frames).toEqual([{ type: 'ping' }]);
      await tick(499);
      expect(socket.state).toBe(ConnectionState.Open);
      await tick(1);
      expect(gateway.sockets[0].closedByClient?.reason).toBe('heartbeat timeout');
      expect(log.slice(1, 3)).toEqual(['close:1006:true', 'reconnecting:1:250']);
      await tick(250);
      expect(gateway.sockets).toHaveLength(2);
    });

    it('counts any frame from the gateway as an answer', async () => {
      gateway.options.autoPong = false;
      const socket = create({ heartbeatInterval: 1000, heartbeatTimeout: 500 });
      await tick();
      await tick(1100);
      gateway.last.deliver({ type: 'file-change', daemonId: 'd1', payload: {} });
      await tick(400);
      expect(socket.state).toBe(ConnectionState.Open);
      expect(gateway.sockets).toHaveLength(1);
    });
  });

  describe('token refresh on the live connection', () => {
    const at = (ms: number) => new Date(ms).toISOString();
    const refreshFrames = () => gateway.last.frames.filter((frame) => frame.type === 'refresh-token');

    it("refreshes a fifth of the lifetime (at most 60 s) before authExpiresAt, measured on the gateway's clock", async () => {
      const socket = create();
      const refreshed: string[] = [];
      socket.on('tokenrefresh', (event) => refreshed.push(event.authExpiresAt));
      gateway.options.autoAccept = false;
      await tick();
      // The gateway's clock is an hour ahead of ours: only the difference counts.
      const serverNow = Date.now() + 3_600_000;
      gateway.last.accept({ authExpiresAt: at(serverNow + 300_000), timestamp: at(serverNow) });
      await tick(239_999);
      expect(refreshFrames()).toEqual([]);
      await tick(1);
      expect(refreshFrames()).toEqual([{ type: 'refresh-token', id: expect.stringMatching(/^arbor-refresh-/), payload: { token: 'token-2' } }]);

      const messages: string[] = [];
      socket.on('message', (frame) => messages.push(frame.type));
      gateway.last.deliver({
        type: 'token-refreshed',
        id: refreshFrames()[0].id,
        payload: { authExpiresAt: at(serverNow + 540_000), timestamp: at(serverNow + 240_000) },
      });
      expect(refreshed).toEqual([at(serverNow + 540_000)]);
      // The answer is the SDK's own business, not the app's.
      expect(messages).toEqual([]);
      await tick(239_999);
      expect(refreshFrames()).toHaveLength(1);
      await tick(1);
      expect(refreshFrames()).toHaveLength(2);
      expect(gateway.sockets).toHaveLength(1);
    });

    it('a refused refresh is retried after 5 s without reconnecting; short lifetimes refresh 1 s early', async () => {
      const socket = create();
      const errors: string[] = [];
      socket.on('error', ({ error }) => errors.push(error.message));
      gateway.options.autoAccept = false;
      await tick();
      gateway.last.accept({ authExpiresAt: at(Date.now() + 3_000), timestamp: at(Date.now()) });
      await tick(2_000);
      expect(refreshFrames()).toHaveLength(1);
      gateway.last.deliver({ type: 'error', id: refreshFrames()[0].id, payload: { code: 'unauthorized', message: 'invalid token' } });
      expect(errors).toEqual(['token refresh refused: invalid token']);
      await tick(4_999);
      expect(refreshFrames()).toHaveLength(1);
      await tick(1);
      expect(refreshFrames()).toHaveLength(2);
      expect(socket.state).toBe(ConnectionState.Open);
    });

    it('without getToken there is nothing to refresh with; after close no refresh is pending', async () => {
      const socket = create({ getToken: undefined });
      gateway.options.autoAccept = false;
      await tick();
      gateway.last.accept({ authExpiresAt: at(Date.now() + 10_000), timestamp: at(Date.now()) });
      await tick(20_000);
      expect(refreshFrames()).toEqual([]);
      const other = create();
      await tick();
      gateway.last.accept({ authExpiresAt: at(Date.now() + 10_000), timestamp: at(Date.now()) });
      other.close();
      expect(other.pendingTimerCount).toBe(0);
      socket.close();
    });
  });
});
