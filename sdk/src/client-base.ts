import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import { ConnectionState, ReconnectingWebSocket, type ReconnectingWebSocketOptions } from './reconnecting-websocket.js';
import { systemTimers, TimerSet } from './timers.js';

/**
 * What GatewayClient and DaemonClient share: one ReconnectingWebSocket, a typed event emitter,
 * their own timers, and every internal subscription kept in one list so dispose() releases all.
 */
export abstract class ClientBase<Events extends { state: ConnectionState; error: Error }> {
  readonly connection: ReconnectingWebSocket;
  protected readonly events = new Emitter<Events>();
  protected readonly timers: TimerSet;
  protected readonly unsubscribers: Unsubscribe[] = [];

  /** Subclasses subscribe to `connection` in their constructor, then call `start()`. */
  protected constructor(private readonly connectionOptions: ReconnectingWebSocketOptions) {
    this.timers = new TimerSet(connectionOptions.timers ?? systemTimers);
    this.connection = new ReconnectingWebSocket({ ...connectionOptions, startClosed: true });
    this.unsubscribers.push(
      this.connection.on('statechange', ({ current }) => this.emit('state', current)),
      this.connection.on('error', ({ error }) => this.emit('error', error)),
    );
  }

  /** The link to the gateway. */
  get state(): ConnectionState {
    return this.connection.state;
  }

  /** Epoch ms of the next reconnect attempt while reconnecting. */
  get nextRetryAt(): number | undefined {
    return this.connection.nextRetryAt;
  }

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): Unsubscribe {
    return this.events.on(event, listener);
  }

  connect(): void {
    this.connection.connect();
  }

  close(): void {
    this.connection.close();
  }

  /** Closes and releases every timer, listener and pending request. */
  dispose(): void {
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    this.releaseResources();
    this.timers.cancelAll();
    this.connection.dispose();
    this.events.removeAll();
  }

  /** Connects unless the caller asked for `startClosed`; call at the end of the subclass constructor. */
  protected start(): void {
    if (!this.connectionOptions.startClosed) this.connection.connect();
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    this.events.emit(event, payload);
  }

  /** Subclass-specific cleanup before the connection is disposed. */
  protected releaseResources(): void {}
}
