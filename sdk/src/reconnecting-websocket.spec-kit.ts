import { afterEach, beforeEach, jest } from '@jest/globals';
import { ReconnectingWebSocket, type ReconnectingWebSocketOptions } from './reconnecting-websocket.js';
import { FakeGateway } from './testing/fake-gateway.js';

export const URL_BASE = 'ws://gateway.test/ws?daemonId=d1';

/**
 * For a describe block: a ReconnectingWebSocket against a FakeGateway under fake timers, with
 * numbered tokens and no jitter or network monitor; a fresh gateway before each test, the socket
 * disposed after it.
 */
export function socketKit() {
  let socket: ReconnectingWebSocket | undefined;
  const kit = {
    gateway: new FakeGateway(),
    /** Tokens handed out so far. */
    tokens: 0,
    tick: (ms = 0) => jest.advanceTimersByTimeAsync(ms),
    create(options: Partial<ReconnectingWebSocketOptions> = {}): ReconnectingWebSocket {
      socket = new ReconnectingWebSocket({
        url: URL_BASE,
        getToken: () => `token-${++kit.tokens}`,
        WebSocket: kit.gateway.WebSocket,
        random: () => 0.5,
        network: null,
        ...options,
      });
      return socket;
    },
    /** The socket's open, close, reconnecting and drop events, in order. */
    record(target: ReconnectingWebSocket): string[] {
      const log: string[] = [];
      target.on('open', () => log.push('open'));
      target.on('close', (event) => log.push(`close:${event.code}:${event.willRetry}`));
      target.on('reconnecting', (event) => log.push(`reconnecting:${event.attempt}:${event.delay}`));
      target.on('drop', (event) => log.push(`drop:${event.message}`));
      return log;
    },
  };
  beforeEach(() => {
    jest.useFakeTimers();
    kit.gateway = new FakeGateway();
    kit.tokens = 0;
    socket = undefined;
  });
  afterEach(() => {
    socket?.dispose();
    jest.useRealTimers();
  });
  return kit;
}
