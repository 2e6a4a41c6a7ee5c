import type { WebSocketConstructor, WebSocketLike } from '../reconnecting-websocket.js';
import type { Frame } from '../protocol.js';

export interface FakeGatewayOptions {
  /** Admit every connection at once with a `connected` frame built from its URL. Default true. */
  autoAccept?: boolean;
  /** Answer `ping` frames with `pong`. Default true. */
  autoPong?: boolean;
  /**
   * On a multiplexed connection (opened without `daemonId`): answer `subscribe` with `subscribed`
   * (daemon online, stream `fake:0`, or resumed from `since`) and `unsubscribe` with `unsubscribed`.
   * Default true.
   */
  autoSubscribe?: boolean;
}

/**
 * An in-process stand-in for the gateway, for testing code built on the SDK without a network:
 * pass `gateway.WebSocket` as the `WebSocket` option, then drive each connection from the test.
 */
export class FakeGateway {
  readonly sockets: FakeSocket[] = [];
  /** Called for each new connection after auto-accept (if on). */
  onConnection: ((socket: FakeSocket) => void) | undefined;
  /** Called for each frame a client sends (after auto-pong, if on). */
  onFrame: ((socket: FakeSocket, frame: Frame) => void) | undefined;
  readonly WebSocket: WebSocketConstructor;
  readonly options: Required<FakeGatewayOptions>;

  constructor(options: FakeGatewayOptions = {}) {
    this.options = { autoAccept: options.autoAccept ?? true, autoPong: options.autoPong ?? true, autoSubscribe: options.autoSubscribe ?? true };
    const gateway = () => this;
    this.WebSocket = class extends FakeSocket {
      constructor(url: string) {
        super(url, gateway());
      }
    };
  }

  /** The most recent connection. */
  get last(): FakeSocket {
    const socket = this.sockets.at(-1);
    if (!socket) throw new Error('no connection was made');
    return socket;
  }

  /** Connections that are open right now. */
  get open(): FakeSocket[] {
    return this.sockets.filter((socket) => socket.readyState === FakeSocket.OPEN);
  }

  /** @internal */
  register(socket: FakeSocket): void {
    this.sockets.push(socket);
    // Like a real socket, the handshake completes asynchronously, after the caller set handlers.
    queueMicrotask(() => {
      if (socket.readyState !== FakeSocket.CONNECTING) return;
      if (this.options.autoAccept) socket.accept();
      this.onConnection?.(socket);
    });
  }

  /** @internal */
  received(socket: FakeSocket, frame: Frame): void {
    if (this.options.autoPong && frame.type === 'ping') socket.deliver({ type: 'pong', ...(frame.id ? { id: frame.id } : {}) });
    if (this.options.autoSubscribe) socket.answerSubscription(frame);
    this.onFrame?.(socket, frame);
  }
}

export class FakeSocket implements WebSocketLike {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  readyState = FakeSocket.CONNECTING;
  /** What the client's socket has not yet put on the network; set it to simulate a backed-up link. */
  bufferedAmount = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** Raw frames the client sent, in order. */
  readonly sent: string[] = [];
  /** The daemons a multiplexed connection is subscribed to (kept by `answerSubscription`). */
  readonly subscriptions = new Set<string>();
  /** Set when the client closed this socket. */
  closedByClient: { code?: number; reason?: string } | undefined;
  readonly url: URL;

  constructor(
    url: string,
    private readonly gateway: FakeGateway,
  ) {
    this.url = new URL(url);
    gateway.register(this);
  }

  /** Frames the client sent, parsed. */
  get frames(): Frame[] {
    return this.sent.map((text) => JSON.parse(text) as Frame);
  }

  get token(): string | null {
    return this.url.searchParams.get('token');
  }

  /** Completes the handshake and sends the gateway's `connected` frame. */
  accept(payload: object = this.defaultConnectedPayload()): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.({});
    this.deliver({ type: 'connected', payload });
  }

  /** Completes the WebSocket handshake without admitting (no `connected` frame). */
  openOnly(): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.({});
  }

  deliver(frame: object | string): void {
    if (this.readyState !== FakeSocket.OPEN) throw new Error('cannot deliver on a socket that is not open');
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }

  /** Answers a `subscribe` or `unsubscribe` frame as the gateway would; other frames are left alone. */
  answerSubscription(frame: Frame): void {
    const { daemonId, since } = (frame.payload ?? {}) as { daemonId?: string; since?: string };
    if (daemonId === undefined) return;
    if (frame.type === 'subscribe') {
      this.subscriptions.add(daemonId);
      const resumed = since === undefined ? undefined : /^(.+):(\d+)$/.exec(since);
      this.deliver({
        type: 'subscribed',
        id: frame.id,
        payload: this.subscribedPayload(daemonId, resumed ? { epoch: resumed[1], seq: Number(resumed[2]) } : undefined),
      });
    } else if (frame.type === 'unsubscribe') {
      this.subscriptions.delete(daemonId);
      this.deliver({ type: 'unsubscribed', id: frame.id, payload: { daemonId } });
    }
  }

  /** A `subscribed` payload: the daemon online with no workspaces, at `resumed` (recovered) or at `fake:0`. */
  subscribedPayload(daemonId: string, resumed?: { epoch: string; seq: number }): object {
    return {
      daemonId,
      workspaceIds: [],
      workspaceStatuses: {},
      daemonStatus: 'online',
      stream: resumed ?? { epoch: 'fake', seq: 0 },
      recovered: resumed !== undefined,
      timestamp: new Date().toISOString(),
    };
  }

  /** The gateway closes the connection (or refuses it) with a code. */
  closeFromServer(code: number, reason = ''): void {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code, reason });
  }

  /** The network drops: the client sees 1006. */
  drop(): void {
    this.closeFromServer(1006, '');
  }

  send(data: string): void {
    if (this.readyState !== FakeSocket.OPEN) throw new Error('send on a socket that is not open');
    this.sent.push(data);
    this.gateway.received(this, JSON.parse(data) as Frame);
  }

  close(code?: number, reason?: string): void {
    if (this.readyState === FakeSocket.CLOSED || this.readyState === FakeSocket.CLOSING) return;
    this.closedByClient = { code, reason };
    this.readyState = FakeSocket.CLOSING;
    queueMicrotask(() => {
      this.readyState = FakeSocket.CLOSED;
      this.onclose?.({ code: code ?? 1005, reason: reason ?? '' });
    });
  }

  private defaultConnectedPayload(): object {
    const daemonId = this.url.searchParams.get('daemonId');
    const timestamp = new Date().toISOString();
    return daemonId ? { daemonId, workspaceIds: [], daemonStatus: 'online', timestamp } : { multiplexed: true, timestamp };
  }
}
