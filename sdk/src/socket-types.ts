import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { NetworkMonitor } from './network.js';
import type { Frame } from './protocol.js';
import type { Timers } from './timers.js';

/** What ReconnectingWebSocket is configured with, its states, events and errors. */

export enum ConnectionState {
  /** Created with `startClosed` and not connected yet. */
  Idle = 'idle',
  /** First attempt since `connect()`. */
  Connecting = 'connecting',
  /** The gateway's `connected` frame arrived; messages flow. */
  Open = 'open',
  /** Waiting for, or making, another attempt after a drop or a failed attempt. */
  Reconnecting = 'reconnecting',
  /** Stopped: by `close()`, by a close code that must not be retried, or after `maxRetries`. */
  Closed = 'closed',
  /** Stopped: the gateway refused two fresh tokens in a row (4401). */
  Unauthorized = 'unauthorized',
  /** Stopped: the token is valid but grants no access (4403). */
  Forbidden = 'forbidden',
}

export const TERMINAL_STATES = new Set([ConnectionState.Idle, ConnectionState.Closed, ConnectionState.Unauthorized, ConnectionState.Forbidden]);

/**
 * A handler whose event is checked both ways, as method parameters are: the browser's and the ws
 * package's WebSocket declare richer event types than the fields read here, and must still fit.
 */
type EventHandler<Event> = { handle(event: Event): void }['handle'];

/** The part of the WebSocket API this class uses: browsers' WebSocket, `ws`, or a fake. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: EventHandler<unknown> | null;
  onmessage: EventHandler<{ data: unknown }> | null;
  onclose: EventHandler<{ code: number; reason: string }> | null;
  onerror: EventHandler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** Bytes sent but not yet handed to the network (browsers' and ws's WebSocket have it). */
  readonly bufferedAmount?: number;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type UrlSource = string | URL | (() => string | URL | Promise<string | URL>);
export type TokenSource = () => string | null | undefined | Promise<string | null | undefined>;

export interface ReconnectingWebSocketOptions extends Partial<BackoffOptions> {
  /** The gateway URL, or a (sync or async) function resolved before every attempt. */
  url: UrlSource;
  /**
   * Called before every attempt (single-flight); the result is sent as the `token` parameter. Also
   * called before the connection's authorization ends, and sent as `refresh-token` on the live
   * connection, so a short-lived token never forces a reconnect. Return a fresh token each time.
   */
  getToken?: TokenSource;
  /** Defaults to the global WebSocket (browsers, Node 22+); pass `ws`'s on Node 20. */
  WebSocket?: WebSocketConstructor;
  /** A connection must stay open this long (after `connected`) before the attempt count resets. Default 5000 ms. */
  minUptime?: number;
  /** An attempt that has not produced `connected` by then is abandoned. Default 10 000 ms. */
  connectionTimeout?: number;
  /** Consecutive failed attempts before giving up (state `closed`). Default unlimited. */
  maxRetries?: number;
  /** Queue bound while disconnected, in messages. Default 1000. */
  maxQueuedMessages?: number;
  /** Queue bound while disconnected, in UTF-8 bytes. Default 1 MiB. */
  maxQueuedBytes?: number;
  /** App-level ping interval. Default 25 000 ms. */
  heartbeatInterval?: number;
  /** No frame within this long after a ping → reconnect. Default 10 000 ms. */
  heartbeatTimeout?: number;
  /** Do not connect until `connect()` is called. */
  startClosed?: boolean;
  /** Injected clock and timers (tests). */
  timers?: Timers;
  /** Injected randomness for the backoff jitter (tests). */
  random?: () => number;
  /** Online/offline source; defaults to the browser's, null to ignore. */
  network?: NetworkMonitor | null;
}

export interface SendOptions {
  /** Do not queue while disconnected: send now or not at all (e.g. pings, heartbeats). */
  volatile?: boolean;
}

export interface CloseEvent {
  code: number;
  reason: string;
  willRetry: boolean;
}

export interface ReconnectingWebSocketEvents {
  /** The gateway admitted the connection (`connected` frame); queued messages were flushed. */
  open: { frame: Frame };
  close: CloseEvent;
  error: { error: Error };
  message: Frame;
  reconnecting: { attempt: number; delay: number; at: number };
  drop: { message: string };
  statechange: { previous: ConnectionState; current: ConnectionState };
  /** The gateway extended the live connection's authorization (`refresh-token` accepted). */
  tokenrefresh: { authExpiresAt: string };
}

/** Why the connection stopped for good, from the gateway's close code. */
export class GatewayCloseError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`gateway closed the connection: ${code}${reason ? ` ${reason}` : ''}`);
    this.name = 'GatewayCloseError';
  }
}

/**
 * A socket's `error` event as an Error that says what failed where: the cause where the runtime
 * gives one (Node's `ws`: refused connection, an HTTP answer to the upgrade such as 401 or 403),
 * and the address without its query (which may hold a token). Browsers give no cause.
 */
export function socketError(url: string, event: unknown): Error {
  const { message, error } = (event ?? {}) as { message?: unknown; error?: unknown };
  const address = url.split('?')[0];
  const detail = typeof message === 'string' && message ? message : error instanceof Error ? error.message : undefined;
  return new Error(detail ? `WebSocket error at ${address}: ${detail}` : `WebSocket error at ${address}`, error === undefined ? undefined : { cause: error });
}

/** The options with a value whatever the caller gave. */
export type SocketSettings = Required<
  Omit<ReconnectingWebSocketOptions, keyof BackoffOptions | 'getToken' | 'WebSocket' | 'timers' | 'random' | 'network' | 'startClosed'>
>;

export function withDefaults(config: ReconnectingWebSocketOptions): SocketSettings {
  return {
    url: config.url,
    minUptime: config.minUptime ?? 5_000,
    connectionTimeout: config.connectionTimeout ?? 10_000,
    maxRetries: config.maxRetries ?? Infinity,
    maxQueuedMessages: config.maxQueuedMessages ?? 1_000,
    maxQueuedBytes: config.maxQueuedBytes ?? 1024 * 1024,
    heartbeatInterval: config.heartbeatInterval ?? 25_000,
    heartbeatTimeout: config.heartbeatTimeout ?? 10_000,
  };
}

export function backoffOf(config: Partial<BackoffOptions>): BackoffOptions {
  return {
    minDelay: config.minDelay ?? DEFAULT_BACKOFF.minDelay,
    factor: config.factor ?? DEFAULT_BACKOFF.factor,
    maxDelay: config.maxDelay ?? DEFAULT_BACKOFF.maxDelay,
  };
}
