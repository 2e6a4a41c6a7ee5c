import { fullJitterDelay, type BackoffOptions } from './backoff.js';
import { withToken } from './connect-url.js';
import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import { browserNetwork, type NetworkMonitor } from './network.js';
import { OfflineQueue } from './offline-queue.js';
import { CloseAction, CloseCode, closeActionFor, parseRetryHint, ServerMessageType, type Frame } from './protocol.js';
import {
  ConnectionState,
  GatewayCloseError,
  backoffOf,
  socketError,
  TERMINAL_STATES,
  withDefaults,
  type SocketSettings,
  type ReconnectingWebSocketEvents,
  type ReconnectingWebSocketOptions,
  type SendOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from './socket-types.js';
import { SocketHeartbeat } from './socket-heartbeat.js';
import { systemTimers, TimerSet, type TimerHandle } from './timers.js';
import { TokenRefresher } from './token-refresher.js';

export * from './socket-types.js';

/** Client-side close code for sockets we abandon ourselves (timeouts, offline). */
const LOCAL_ABORT_CODE = 4000;

/**
 * A WebSocket to the Arbor gateway that survives drops: full-jitter backoff, fresh credentials
 * on every attempt, close-code policy from the shared protocol table, a bounded queue flushed
 * before `open`, app-level heartbeats and browser online/offline handling.
 */
export class ReconnectingWebSocket {
  private readonly events = new Emitter<ReconnectingWebSocketEvents>();
  private readonly timers: TimerSet;
  private readonly backoff: BackoffOptions;
  private readonly options: SocketSettings;
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
  private readonly offline: OfflineQueue;
  private readonly refresher: TokenRefresher;
  private readonly heartbeat: SocketHeartbeat;
  private tokenInFlight: Promise<string | null | undefined> | undefined;
  private stopNetwork: Unsubscribe | undefined;
  private waitingForNetwork = false;
  private retryTimer: TimerHandle | undefined;
  private connectTimer: TimerHandle | undefined;
  private uptimeTimer: TimerHandle | undefined;

  /** Epoch ms of the next scheduled attempt while reconnecting, else undefined. */
  nextRetryAt: number | undefined;
  /** Why the connection stopped, when the gateway stopped it. */
  lastError: GatewayCloseError | undefined;

  constructor(private readonly config: ReconnectingWebSocketOptions) {
    this.timers = new TimerSet(config.timers ?? systemTimers);
    this.random = config.random ?? Math.random;
    this.backoff = backoffOf(config);
    this.options = withDefaults(config);
    const Impl = config.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Impl) throw new Error('No WebSocket implementation: pass one as the WebSocket option (e.g. the ws package on Node 20)');
    this.WebSocketImpl = Impl;
    this.network = config.network === undefined ? browserNetwork() : config.network;
    this.offline = new OfflineQueue(this.options.maxQueuedMessages, this.options.maxQueuedBytes, (message) => this.events.emit('drop', { message }));
    const openSocket = () => (this.currentState === ConnectionState.Open ? this.socket : undefined);
    this.refresher = new TokenRefresher({
      timers: this.timers,
      openSocket,
      fetchToken: () => this.fetchToken(),
      refreshed: (authExpiresAt) => this.events.emit('tokenrefresh', { authExpiresAt }),
      failed: (error) => this.events.emit('error', { error }),
    });
    this.heartbeat = new SocketHeartbeat(this.timers, this.options.heartbeatInterval, this.options.heartbeatTimeout, openSocket, () =>
      this.abort('heartbeat timeout'),
    );
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
    return this.offline.length;
  }

  /** Bytes waiting: on the socket (sent, not yet on the network) plus the offline queue. */
  get bufferedAmount(): number {
    return (this.socket?.bufferedAmount ?? 0) + this.offline.byteLength;
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
    if (!options.volatile) this.offline.add(text);
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
    this.offline.clear();
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
    this.heartbeat.received();
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
    if (TokenRefresher.answers(frame)) return this.refresher.answered(frame);
    this.events.emit('message', frame);
  }

  private established(frame: Frame): void {
    this.timers.cancel(this.connectTimer);
    this.consecutiveUnauthorized = 0;
    this.hasBeenOpen = true;
    this.lastError = undefined;
    this.setState(ConnectionState.Open);
    const socket = this.socket!;
    for (const text of this.offline.take()) socket.send(text);
    // Only a connection that stays up earns a fresh backoff; flapping ones keep backing off.
    this.uptimeTimer = this.timers.after(this.options.minUptime, () => {
      this.failedAttempts = 0;
    });
    this.heartbeat.start();
    if (this.config.getToken) this.refresher.schedule(frame.payload as { authExpiresAt?: unknown; timestamp?: unknown } | undefined);
    this.events.emit('message', frame);
    this.events.emit('open', { frame });
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
    this.heartbeat.stop();
    this.timers.cancel(this.retryTimer);
    this.refresher.cancel();
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
