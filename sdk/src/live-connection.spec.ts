import { ConnectionState } from './reconnecting-websocket.js';
import { socketKit } from './reconnecting-websocket.spec-kit.js';

describe('ReconnectingWebSocket on a live connection', () => {
  const kit = socketKit();

  describe('heartbeat', () => {
    it('pings every heartbeatInterval and stays up while pongs come back', async () => {
      const socket = kit.create({ heartbeatInterval: 1000, heartbeatTimeout: 500 });
      await kit.tick();
      await kit.tick(10_000);
      expect(kit.gateway.sockets).toHaveLength(1);
      expect(kit.gateway.last.frames.filter((frame) => frame.type === 'ping').length).toBeGreaterThanOrEqual(6);
      expect(socket.state).toBe(ConnectionState.Open);
    });

    it('closes and reconnects when nothing answers within heartbeatTimeout', async () => {
      kit.gateway.options.autoPong = false;
      const socket = kit.create({ heartbeatInterval: 1000, heartbeatTimeout: 500 });
      const log = kit.record(socket);
      await kit.tick();
      await kit.tick(1000);
      expect(kit.gateway.last.frames).toEqual([{ type: 'ping' }]);
      await kit.tick(499);
      expect(socket.state).toBe(ConnectionState.Open);
      await kit.tick(1);
      expect(kit.gateway.sockets[0].closedByClient?.reason).toBe('heartbeat timeout');
      expect(log.slice(1, 3)).toEqual(['close:1006:true', 'reconnecting:1:250']);
      await kit.tick(250);
      expect(kit.gateway.sockets).toHaveLength(2);
    });

    it('counts any frame from the kit.gateway as an answer', async () => {
      kit.gateway.options.autoPong = false;
      const socket = kit.create({ heartbeatInterval: 1000, heartbeatTimeout: 500 });
      await kit.tick();
      await kit.tick(1100);
      kit.gateway.last.deliver({ type: 'file-change', daemonId: 'd1', payload: {} });
      await kit.tick(400);
      expect(socket.state).toBe(ConnectionState.Open);
      expect(kit.gateway.sockets).toHaveLength(1);
    });
  });

  describe('token refresh on the live connection', () => {
    const at = (ms: number) => new Date(ms).toISOString();
    const refreshFrames = () => kit.gateway.last.frames.filter((frame) => frame.type === 'refresh-token');

    it("refreshes a fifth of the lifetime (at most 60 s) before authExpiresAt, measured on the kit.gateway's clock", async () => {
      const socket = kit.create();
      const refreshed: string[] = [];
      socket.on('tokenrefresh', (event) => refreshed.push(event.authExpiresAt));
      kit.gateway.options.autoAccept = false;
      await kit.tick();
      // The kit.gateway's clock is an hour ahead of ours: only the difference counts.
      const serverNow = Date.now() + 3_600_000;
      kit.gateway.last.accept({ authExpiresAt: at(serverNow + 300_000), timestamp: at(serverNow) });
      await kit.tick(239_999);
      expect(refreshFrames()).toEqual([]);
      await kit.tick(1);
      expect(refreshFrames()).toEqual([{ type: 'refresh-token', id: expect.stringMatching(/^arbor-refresh-/), payload: { token: 'token-2' } }]);

      const messages: string[] = [];
      socket.on('message', (frame) => messages.push(frame.type));
      kit.gateway.last.deliver({
        type: 'token-refreshed',
        id: refreshFrames()[0].id,
        payload: { authExpiresAt: at(serverNow + 540_000), timestamp: at(serverNow + 240_000) },
      });
      expect(refreshed).toEqual([at(serverNow + 540_000)]);
      // The answer is the SDK's own business, not the app's.
      expect(messages).toEqual([]);
      await kit.tick(239_999);
      expect(refreshFrames()).toHaveLength(1);
      await kit.tick(1);
      expect(refreshFrames()).toHaveLength(2);
      expect(kit.gateway.sockets).toHaveLength(1);
    });

    it('a refused refresh is retried after 5 s without reconnecting; short lifetimes refresh 1 s early', async () => {
      const socket = kit.create();
      const errors: string[] = [];
      socket.on('error', ({ error }) => errors.push(error.message));
      kit.gateway.options.autoAccept = false;
      await kit.tick();
      kit.gateway.last.accept({ authExpiresAt: at(Date.now() + 3_000), timestamp: at(Date.now()) });
      await kit.tick(2_000);
      expect(refreshFrames()).toHaveLength(1);
      kit.gateway.last.deliver({ type: 'error', id: refreshFrames()[0].id, payload: { code: 'unauthorized', message: 'invalid token' } });
      expect(errors).toEqual(['token refresh refused: invalid token']);
      await kit.tick(4_999);
      expect(refreshFrames()).toHaveLength(1);
      await kit.tick(1);
      expect(refreshFrames()).toHaveLength(2);
      expect(socket.state).toBe(ConnectionState.Open);
    });

    it('without getToken there is nothing to refresh with; after close no refresh is pending', async () => {
      const socket = kit.create({ getToken: undefined });
      kit.gateway.options.autoAccept = false;
      await kit.tick();
      kit.gateway.last.accept({ authExpiresAt: at(Date.now() + 10_000), timestamp: at(Date.now()) });
      await kit.tick(20_000);
      expect(refreshFrames()).toEqual([]);
      const other = kit.create();
      await kit.tick();
      kit.gateway.last.accept({ authExpiresAt: at(Date.now() + 10_000), timestamp: at(Date.now()) });
      other.close();
      expect(other.pendingTimerCount).toBe(0);
      socket.close();
    });
  });
});
