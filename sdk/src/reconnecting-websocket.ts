import { DEFAULT_BACKOFF, fullJitterDelay, type BackoffOptions } from './backoff.js';
import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import { browserNetwork, type NetworkMonitor } from './network.js';
import {
  ClientMessageType,
  CloseAction,
  CloseCode,
  closeActionFor,
  parseRetryHint,
  ServerMessageType,
  type Frame,
  type TokenRefreshedPayload,
} from './protocol.js';
import { systemTimers, TimerSet, type TimerHandle, type Timers } from './timers.js';

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

const TERMINAL_STATES = new Set([ConnectionState.Idle, ConnectionState.Closed, ConnectionState.Unauthorized, ConnectionState.Forbidden]);

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
function socketError(url: string, event: unknown): Error {
  const { message, error } = (event ?? {}) as { message?: unknown; error?: unknown };
  const address = url.split('?')[0];
  const detail = typeof message === 'string' && message ? message : error instanceof Error ? error.message : undefined;
  return new Error(detail ? `WebSocket error at ${address}: ${detail}` : `WebSocket error at ${address}`, error === undefined ? undefined : { cause: error });
}

/** Client-side close code for sockets we abandon ourselves (timeouts, offline). */
const LOCAL_ABORT_CODE = 4000;
const PING_FRAME = JSON.stringify({ type: 'ping' });
/** Ids of our own refresh-token frames: their answers are handled here, not emitted. */
const REFRESH_ID_PREFIX = 'arbor-refresh-';
const REFRESH_RETRY_MS = 5_000;

interface QueuedMessage {
  text: string;
  bytes: number;
}

/**
 * A WebSocket to the Arbor gateway that survives drops: full-jitter backoff, fresh credentials
 * on every attempt, close-code policy from the shared protocol table, a bounded queue flushed
 * before `open`, app-level heartbeats and browser online/offline handling.
 */
export class ReconnectingWebSocket {
  private readonly events = new Emitter<ReconnectingWebSocketEvents>();
  private readonly timers: TimerSet;
  private readonly backoff: BackoffOptions;
  private readonly options: Required<
    Omit<ReconnectingWebSocketOptions, keyof BackoffOptions | 'getToken' | 'WebSocket' | 'timers' | 'random' | 'network' | 'startClosed'>
  >;
  private readonly random: () => number;
  private readonly network: NetworkMonitor | null;
  private readonly WebSocketImpl: WebSocketConstructor;

  private currentState = ConnectionState.Idle;
  private socket: WebSocketLike | undefined;
  /** Bumped whenever a socket or pending attempt is abandoned; stale callbacks compare it. */
  private generation = 0;
  private failedAttempts = 0;
  private consecutiveUnauthorized = 0;
  private hasBeenOpen = false;
  private disposed = false;
  private queue: QueuedMessage[] = [];
  private queuedBytes = 0;
  private tokenInFlight: Promise<string | null | undefined> | undefined;
  private stopNetwork: Unsubscribe | undefined;
  private waitingForNetwork = false;
  private lastReceivedAt = 0;
  private pingSentAt = 0;
  private retryTimer: TimerHandle | undefined;
  private connectTimer: TimerHandle | undefined;
  private uptimeTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private refreshTimer: TimerHandle | undefined;
  private refreshCount = 0;

  /** Epoch ms of the next scheduled attempt while reconnecting, else undefined. */
  nextRetryAt: number | undefined;
  /** Why the connection stopped, when the gateway stopped it. */
  lastError: GatewayCloseError | undefined;

  constructor(private readonly config: ReconnectingWebSocketOptions) {
    this.timers = new TimerSet(config.timers ?? systemTimers);
    this.random = config.random ?? Math.random;
    this.backoff = {
      minDelay: config.minDelay ?? DEFAULT_BACKOFF.minDelay,
      factor: config.factor ?? DEFAULT_BACKOFF.factor,
      maxDelay: config.maxDelay ?? DEFAULT_BACKOFF.maxDelay,
    };
    this.options = {
      url: config.url,
      minUptime: config.minUptime ?? 5_000,
      connectionTimeout: config.connectionTimeout ?? 10_000,
      maxRetries: config.maxRetries ?? Infinity,
      maxQueuedMessages: config.maxQueuedMessages ?? 1_000,
      maxQueuedBytes: config.maxQueuedBytes ?? 1024 * 1024,
      heartbeatInterval: config.heartbeatInterval ?? 25_000,
      heartbeatTimeout: config.heartbeatTimeout ?? 10_000,
    };
    const Impl = config.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Impl) throw new Error('No WebSocket implementation: pass one as the WebSocket option (e.g. the ws package on Node 20)');
    this.WebSocketImpl = Impl;
    this.network = config.network === undefined ? browserNetwork() : config.network;
    if (!config.startClosed) this.connect();
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** WebSocket-compatible ready state: OPEN only once the gateway admitted the connection. */
  get readyState(): number {
    if (this.currentState === ConnectionState.Open) return 1;
    if (this.currentState === ConnectionState.Connecting || this.currentState === ConnectionState.Reconnecting) return 0;
    return 3;
  }

  get queuedMessageCount(): number {
    return this.queue.length;
  }

  /** Bytes waiting: on the socket (sent, not yet on the network) plus the offline queue. */
  get bufferedAmount(): number {
    return (this.socket?.bufferedAmount ?? 0) + this.queuedBytes;
  }

  /** Timers still scheduled; zero after `close()` or `dispose()`. */
  get pendingTimerCount(): number {
    return this.timers.size;
  }

  /** Listeners still registered, including the network's; zero after `dispose()`. */
  get listenerCount(): number {
    return this.events.listenerCount() + (this.stopNetwork ? 1 : 0);
  }

  on<K extends keyof ReconnectingWebSocketEvents>(event: K, listener: Listener<ReconnectingWebSocketEvents[K]>): Unsubscribe {
    return this.events.on(event, listener);
  }

  /** Starts connecting (after `startClosed`, `close()`, or a terminal state). */
  connect(): void {
    this.assertUsable();
    if (!TERMINAL_STATES.has(this.currentState)) return;
    this.failedAttempts = 0;
    this.consecutiveUnauthorized = 0;
    this.lastError = undefined;
    this.watchNetwork();
    void this.attempt();
  }

  /** Drops the current connection, if any, and connects again right away. */
  reconnect(): void {
    this.assertUsable();
    this.abandonSocket();
    this.timers.cancelAll();
    this.failedAttempts = 0;
    this.lastError = undefined;
    this.watchNetwork();
    void this.attempt();
  }

  /**
   * Sends now when open; otherwise queues (unless `volatile`). Returns whether it went out now.
   * Queued messages go out in order right after the next `connected`, before `open` is emitted.
   */
  send(data: string | object, options: SendOptions = {}): boolean {
    this.assertUsable();
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    if (this.currentState === ConnectionState.Open && this.socket) {
      this.socket.send(text);
      return true;
    }
    if (!options.volatile) this.enqueue(text);
    return false;
  }

  /** Closes for good (until `connect()`); no reconnect. */
  close(code: number = CloseCode.Normal, reason = 'client closed'): void {
    if (this.disposed) return;
    const wasActive = !TERMINAL_STATES.has(this.currentState);
    const socket = this.abandonSocket();
    this.timers.cancelAll();
    this.unwatchNetwork();
    this.nextRetryAt = undefined;
    socket?.close(code, reason);
    this.setState(ConnectionState.Closed);
    if (wasActive) this.events.emit('close', { code, reason, willRetry: false });
  }

  /** Closes and releases everything: timers, listeners, queue. The instance cannot be reused. */
  dispose(): void {
    if (this.disposed) return;
    this.close();
    this.disposed = true;
    this.events.removeAll();
    this.queue = [];
    this.queuedBytes = 0;
  }

  // ---- connecting ----------------------------------------------------------------------------

  private async attempt(): Promise<void> {
    const generation = ++this.generation;
    this.nextRetryAt = undefined;
    this.setState(this.hasBeenOpen || this.failedAttempts > 0 ? ConnectionState.Reconnecting : ConnectionState.Connecting);
    let url: string;
    try {
      const [base, token] = await Promise.all([this.resolveUrl(), this.fetchToken()]);
      url = withToken(base, token);
    } catch (error) {
      if (generation !== this.generation) return;
      this.emitError(error, 'could not get the URL or token');
      return this.afterFailure(CloseCode.AbnormalClosure, 'credentials unavailable');
    }
    if (generation !== this.generation) return;
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(url);
    } catch (error) {
      this.emitError(error, 'could not open a WebSocket');
      return this.afterFailure(CloseCode.AbnormalClosure, 'connection failed');
    }
    this.socket = socket;
    this.connectTimer = this.timers.after(this.options.connectionTimeout, () => this.abort('connection timeout'));
    socket.onmessage = (event) => this.handleMessage(generation, event.data);
    socket.onclose = (event) => this.handleClose(generation, event.code, event.reason);
    socket.onerror = (event) => {
      if (generation === this.generation) this.events.emit('error', { error: socketError(url, event) });
    };
  }

  /** Single-flight: concurrent attempts share one getToken() call. */
  private fetchToken(): Promise<string | null | undefined> {
    const getToken = this.config.getToken;
    if (!getToken) return Promise.resolve(undefined);
    this.tokenInFlight ??= Promise.resolve()
      .then(getToken)
      .finally(() => {
        this.tokenInFlight = undefined;
      });
    return this.tokenInFlight;
  }

  private async resolveUrl(): Promise<string | URL> {
    const { url } = this.options;
    return typeof url === 'function' ? url() : url;
  }

  // ---- an open socket ------------------------------------------------------------------------

  private handleMessage(generation: number, data: unknown): void {
    if (generation !== this.generation) return;
    this.lastReceivedAt = this.timers.now();
    if (typeof data !== 'string') return;
    let frame: Frame;
    try {
      frame = JSON.parse(data) as Frame;
    } catch {
      this.events.emit('error', { error: new Error('gateway sent a frame that is not JSON') });
      return;
    }
    if (frame.type === ServerMessageType.Connected && this.currentState !== ConnectionState.Open) {
      this.established(frame);
      return;
    }
    if (typeof frame.id === 'string' && frame.id.startsWith(REFRESH_ID_PREFIX)) return this.refreshAnswered(frame);
    this.events.emit('message', frame);
  }

  // ---- token refresh on the live connection ---------------------------------------------------

  /**
   * Plans the next refresh from the gateway's `authExpiresAt`, measured against the gateway's own
   * `timestamp` so a skewed local clock does not matter: a fifth of the remaining time before the
   * end (at least 1 s, at most 60 s).
   */
  private scheduleRefresh(payload: { authExpiresAt?: unknown; timestamp?: unknown } | undefined): void {
    this.timers.cancel(this.refreshTimer);
    if (!this.config.getToken || typeof payload?.authExpiresAt !== 'string') return;
    const serverNow = typeof payload.timestamp === 'string' ? Date.parse(payload.timestamp) : this.timers.now();
    const remaining = Date.parse(payload.authExpiresAt) - (Number.isNaN(serverNow) ? this.timers.now() : serverNow);
    if (Number.isNaN(remaining)) return;
    const margin = Math.min(60_000, Math.max(1_000, remaining / 5));
    this.refreshTimer = this.timers.after(Math.max(0, remaining - margin), () => void this.refreshToken());
  }

  private async refreshToken(): Promise<void> {
    const generation = this.generation;
    let token: string | null | undefined;
    try {
      token = await this.fetchToken();
    } catch (error) {
      this.emitError(error, 'could not get a token to refresh the connection');
    }
    if (generation !== this.generation || this.currentState !== ConnectionState.Open || !this.socket) return;
    if (!token) {
      // Try again shortly; if the gateway's deadline passes first it closes with 4401 and we reconnect.
      this.refreshTimer = this.timers.after(REFRESH_RETRY_MS, () => void this.refreshToken());
      return;
    }
    this.refreshCount += 1;
    this.socket.send(JSON.stringify({ type: ClientMessageType.RefreshToken, id: `${REFRESH_ID_PREFIX}${this.refreshCount}`, payload: { token } }));
  }

  private refreshAnswered(frame: Frame): void {
    if (frame.type === ServerMessageType.TokenRefreshed) {
      this.events.emit('tokenrefresh', { authExpiresAt: (frame.payload as TokenRefreshedPayload).authExpiresAt });
      return this.scheduleRefresh(frame.payload as TokenRefreshedPayload);
    }
    const message = (frame.payload as { message?: string } | undefined)?.message ?? 'refused';
    this.events.emit('error', { error: new Error(`token refresh refused: ${message}`) });
    this.timers.cancel(this.refreshTimer);
    this.refreshTimer = this.timers.after(REFRESH_RETRY_MS, () => void this.refreshToken());
  }

  private established(frame: Frame): void {
    this.timers.cancel(this.connectTimer);
    this.consecutiveUnauthorized = 0;
    this.hasBeenOpen = true;
    this.lastError = undefined;
    this.setState(ConnectionState.Open);
    const socket = this.socket!;
    for (const message of this.queue) socket.send(message.text);
    this.queue = [];
    this.queuedBytes = 0;
    // Only a connection that stays up earns a fresh backoff; flapping ones keep backing off.
    this.uptimeTimer = this.timers.after(this.options.minUptime, () => {
      this.failedAttempts = 0;
    });
    this.scheduleHeartbeat();
    this.scheduleRefresh(frame.payload as { authExpiresAt?: unknown; timestamp?: unknown } | undefined);
    this.events.emit('message', frame);
    this.events.emit('open', { frame });
  }

  private scheduleHeartbeat(): void {
    this.heartbeatTimer = this.timers.after(this.options.heartbeatInterval, () => this.ping());
  }

  private ping(): void {
    if (this.currentState !== ConnectionState.Open || !this.socket) return;
    this.pingSentAt = this.timers.now();
    this.socket.send(PING_FRAME);
    this.heartbeatTimer = this.timers.after(this.options.heartbeatTimeout, () => this.checkPong());
  }

  /** Wall-clock check: a late timer (throttled tab) never counts as a missing pong by itself. */
  private checkPong(): void {
    if (this.lastReceivedAt >= this.pingSentAt) return this.scheduleHeartbeat();
    const waited = this.timers.now() - this.pingSentAt;
    if (waited >= this.options.heartbeatTimeout) return this.abort('heartbeat timeout');
    this.heartbeatTimer = this.timers.after(this.options.heartbeatTimeout - waited, () => this.checkPong());
  }

  // ---- closing and retrying ------------------------------------------------------------------

  private handleClose(generation: number, code: number, reason: string): void {
    if (generation !== this.generation) return;
    this.abandonSocket();
    const action = closeActionFor(code);
    if (action === CloseAction.Stop) {
      return this.stop(code === CloseCode.Forbidden ? ConnectionState.Forbidden : ConnectionState.Closed, code, reason);
    }
    if (action === CloseAction.RefreshTokenAndRetry) {
      this.consecutiveUnauthorized += 1;
      // The first 4401 may be an expired token: the next attempt fetches a fresh one.
      if (this.consecutiveUnauthorized >= 2) return this.stop(ConnectionState.Unauthorized, code, reason);
    }
    this.afterFailure(code, reason);
  }

  /** Schedules the next attempt with backoff (or the gateway's hint), or gives up. */
  private afterFailure(code: number, reason: string): void {
    if (this.failedAttempts >= this.options.maxRetries) return this.stop(ConnectionState.Closed, code, reason);
    const delay = parseRetryHint(reason) ?? fullJitterDelay(this.failedAttempts, this.backoff, this.random);
    this.failedAttempts += 1;
    this.events.emit('close', { code, reason, willRetry: true });
    this.setState(ConnectionState.Reconnecting);
    if (this.network && !this.network.isOnline()) {
      // Do not spin while the browser knows it is offline; `online` resumes at once.
      this.waitingForNetwork = true;
      return;
    }
    this.nextRetryAt = this.timers.now() + delay;
    this.events.emit('reconnecting', { attempt: this.failedAttempts, delay, at: this.nextRetryAt });
    this.retryTimer = this.timers.after(delay, () => void this.attempt());
  }

  private stop(state: ConnectionState, code: number, reason: string): void {
    this.timers.cancelAll();
    this.unwatchNetwork();
    this.nextRetryAt = undefined;
    this.lastError = new GatewayCloseError(code, reason);
    this.setState(state);
    this.events.emit('close', { code, reason, willRetry: false });
    if (state !== ConnectionState.Closed || code !== CloseCode.Normal) this.events.emit('error', { error: this.lastError });
  }

  /** Gives up on the current socket ourselves and treats it as a transient failure. */
  private abort(reason: string): void {
    const socket = this.abandonSocket();
    if (!socket) return;
    try {
      socket.close(LOCAL_ABORT_CODE, reason);
    } catch {
      // Closing a socket that never opened can throw in some implementations; it is gone either way.
    }
    this.afterFailure(CloseCode.AbnormalClosure, reason);
  }

  /** Detaches the current socket so none of its late events are acted on. */
  private abandonSocket(): WebSocketLike | undefined {
    this.generation += 1;
    const socket = this.socket;
    this.socket = undefined;
    this.timers.cancel(this.connectTimer);
    this.timers.cancel(this.uptimeTimer);
    this.timers.cancel(this.heartbeatTimer);
    this.timers.cancel(this.retryTimer);
    this.timers.cancel(this.refreshTimer);
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = null;
      socket.onopen = null;
    }
    return socket;
  }

  // ---- network -------------------------------------------------------------------------------

  private watchNetwork(): void {
    if (!this.network || this.stopNetwork) return;
    this.stopNetwork = this.network.subscribe(
      () => this.onOnline(),
      () => this.onOffline(),
    );
  }

  private unwatchNetwork(): void {
    this.stopNetwork?.();
    this.stopNetwork = undefined;
    this.waitingForNetwork = false;
  }

  private onOnline(): void {
    if (this.currentState !== ConnectionState.Reconnecting || this.socket) return;
    this.waitingForNetwork = false;
    this.timers.cancel(this.retryTimer);
    void this.attempt();
  }

  private onOffline(): void {
    if (this.socket) return this.abort('offline');
    if (this.currentState === ConnectionState.Reconnecting && !this.waitingForNetwork) {
      this.timers.cancel(this.retryTimer);
      this.nextRetryAt = undefined;
      this.waitingForNetwork = true;
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  private enqueue(text: string): void {
    const bytes = utf8Length(text);
    this.queue.push({ text, bytes });
    this.queuedBytes += bytes;
    while (this.queue.length > this.options.maxQueuedMessages || this.queuedBytes > this.options.maxQueuedBytes) {
      const dropped = this.queue.shift()!;
      this.queuedBytes -= dropped.bytes;
      this.events.emit('drop', { message: dropped.text });
    }
  }

  private setState(next: ConnectionState): void {
    const previous = this.currentState;
    if (previous === next) return;
    this.currentState = next;
    this.events.emit('statechange', { previous, current: next });
  }

  private emitError(error: unknown, context: string): void {
    const cause = error instanceof Error ? error.message : String(error);
    this.events.emit('error', { error: new Error(`${context}: ${cause}`) });
  }

  private assertUsable(): void {
    if (this.disposed) throw new Error('this connection was disposed');
  }
}

function withToken(base: string | URL, token: string | null | undefined): string {
  if (!token) return String(base);
  const url = new URL(String(base));
  url.searchParams.set('token', token);
  return url.toString();
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i += 1;
    } else bytes += 3;
  }
  return bytes;
}
