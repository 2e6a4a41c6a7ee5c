import { DaemonWatch, WatchedDaemon, WatchState, type RunTaskRequest, type WatchHost } from './daemon-watch.js';
import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import { GatewayRequestError } from './errors.js';
import { CommandStatuses } from './command-statuses.js';
import { DEFAULT_GATEWAY_URL, type CommandAck, type GatewayClientOptions } from './gateway-client.js';
import { ClientMessageType, COMMAND_TYPES, ServerMessageType, type AckPayload, type Frame, type WorkspaceStatusPayload } from './protocol.js';
import { randomId } from './random-id.js';
import { ConnectionState } from './reconnecting-websocket.js';
import { RequestTracker } from './requests.js';
import { TabRelay, type PortLike, type TabMessage } from './tab-relay.js';

export type { PortLike } from './tab-relay.js';
import { systemTimers, TimerSet } from './timers.js';
import { acknowledged, runTaskPayload } from './watch-frames.js';

/** The options a tab sends the worker with `hello`: only what survives structured cloning. */
export type WorkerConnectionOptions = Omit<
  CrossTabClientOptions,
  'url' | 'getToken' | 'WebSocket' | 'timers' | 'network' | 'random' | 'traceContext' | 'tabApis' | 'sharedWorker'
> & {
  url: string;
};

/** The browser APIs tab sharing needs; absent ones mean one connection per tab. */
export interface TabApis {
  BroadcastChannel: new (name: string) => {
    postMessage(message: unknown): void;
    onmessage: ((event: { data: unknown }) => void) | null;
    close(): void;
  };
  locks: { request(name: string, callback: () => Promise<void>): Promise<unknown> };
}

/** The page's BroadcastChannel and Web Locks, when the browser has both. */
export function browserTabApis(): TabApis | undefined {
  const scope = globalThis as unknown as { BroadcastChannel?: TabApis['BroadcastChannel']; navigator?: { locks?: TabApis['locks'] } };
  return scope.BroadcastChannel && scope.navigator?.locks ? { BroadcastChannel: scope.BroadcastChannel, locks: scope.navigator.locks } : undefined;
}

export interface CrossTabClientEvents {
  /** The shared link's state, as the leader tab sees it. */
  state: ConnectionState;
  /** This tab became the one holding the connection. */
  leader: undefined;
  /** The link's state or its next retry time changed. */
  link: undefined;
  error: Error;
}

export interface CrossTabClientOptions extends Omit<GatewayClientOptions, 'daemonId' | 'startClosed'> {
  /** Default: the page's BroadcastChannel and navigator.locks. */
  tabApis?: TabApis;
  /**
   * Creates the app's SharedWorker running `startSharedWorkerRelay()`: the connection then lives in
   * the worker (no leader, no handover). Pass it only where the browser has SharedWorker. Its
   * `port` is a MessagePort (typed loosely so the DOM's SharedWorker fits as it is).
   */
  sharedWorker?: () => { port: object };
}

/**
 * One connection per browser profile and gateway URL, shared by every tab: the tab holding a Web
 * Lock keeps a multiplexed GatewayClient and relays each daemon's frames to every tab over a
 * BroadcastChannel. Each tab keeps its own view of each daemon it watches (position, order,
 * duplicates), so a relay that sends a frame twice costs nothing. When the leader tab closes the
 * next tab in the lock's queue opens the connection and every tab announces its position: each
 * subscription resumes from the earliest one, and each tab drops what it already had.
 */
export class CrossTabClient implements WatchHost {
  readonly tabId = randomId();
  private readonly events = new Emitter<CrossTabClientEvents>();
  private readonly watched = new Map<string, WatchedDaemon>();
  private readonly requests: RequestTracker;
  private readonly commandStatuses = new CommandStatuses();
  private readonly timers: TimerSet;
  /** Leader mode: the channel every tab listens on. */
  private readonly channel: InstanceType<TabApis['BroadcastChannel']> | undefined;
  /** SharedWorker mode: this tab's port to the worker holding the connection. */
  private readonly port: PortLike | undefined;
  private relay: TabRelay | undefined;
  private currentState = ConnectionState.Connecting;
  private retryAt: number | undefined;
  private disposed = false;
  private resignLeadership: (() => void) | undefined;
  /** The shared connection has been open before: a later open is a reconnect. */
  private wasOpen = false;

  constructor(private readonly options: CrossTabClientOptions) {
    this.timers = new TimerSet(options.timers ?? systemTimers);
    this.requests = new RequestTracker(this.timers, options.requestTimeout ?? 10_000);
    const url = String(options.url ?? DEFAULT_GATEWAY_URL);
    if (options.sharedWorker) {
      this.port = options.sharedWorker().port as PortLike;
      this.port.onmessage = (event) => this.fromWorker(event.data as TabMessage | { k: 'token'; id: number });
      this.port.start?.();
      this.port.postMessage({ k: 'hello', options: { ...cloneable(options), url } satisfies WorkerConnectionOptions });
      return;
    }
    const tabApis = options.tabApis ?? browserTabApis();
    if (!tabApis) throw new Error('sharing across tabs needs a SharedWorker, or BroadcastChannel and the Web Locks API');
    const name = `@arbor/gateway-client|${url}`;
    this.channel = new tabApis.BroadcastChannel(name);
    this.channel.onmessage = (event) => this.receive(event.data as TabMessage);
    // Held until this tab goes away (the browser releases it then) or is disposed.
    void tabApis.locks.request(name, () => (this.disposed ? Promise.resolve() : this.lead()));
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  get nextRetryAt(): number | undefined {
    return this.retryAt;
  }

  /** Whether this tab holds the shared connection now. */
  get isLeader(): boolean {
    return this.relay !== undefined;
  }

  on<K extends keyof CrossTabClientEvents>(event: K, listener: Listener<CrossTabClientEvents[K]>): Unsubscribe {
    return this.events.on(event, listener);
  }

  /** Watches a daemon through the shared connection; the same handle as `GatewayClient.watch`. */
  watch(daemonId: string): DaemonWatch {
    let watched = this.watched.get(daemonId);
    if (!watched) {
      const created = new WatchedDaemon(daemonId, (fresh) => {
        // Its frames wait for a snapshot now. A fresh start is the leader's to ask (it saw the
        // same resync-required); a gap is ours: the leader rewinds to our position.
        const asked = created.state === WatchState.Subscribing;
        created.state = WatchState.Subscribing;
        if (!fresh && !asked) this.post({ k: 'watch', tab: this.tabId, daemonId, since: created.view.position });
      });
      watched = created;
      this.watched.set(daemonId, created);
      this.post({ k: 'watch', tab: this.tabId, daemonId });
    }
    return new DaemonWatch(watched, this);
  }

  /** Sends a raw frame through the shared connection (replies come back to this tab by id). */
  send(frame: Frame): boolean {
    this.post({ k: 'send', tab: this.tabId, frame });
    return this.currentState === ConnectionState.Open;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.post({ k: 'bye', tab: this.tabId });
    this.requests.rejectAll();
    this.commandStatuses.rejectAll();
    this.timers.cancelAll();
    for (const watched of this.watched.values()) watched.events.removeAll();
    this.watched.clear();
    if (this.channel) {
      this.channel.onmessage = null;
      this.channel.close();
    }
    if (this.port) {
      this.port.onmessage = null;
      this.port.close?.();
    }
    this.resignLeadership?.();
    this.events.removeAll();
  }

  /** @internal */
  workspaceStatusOf(daemonId: string, workspaceId: string): Promise<WorkspaceStatusPayload> {
    return this.request(ClientMessageType.GetWorkspaceStatus, { daemonId, workspaceId }).then((reply) => reply.payload as WorkspaceStatusPayload);
  }

  /** @internal */
  async runTaskOn(daemonId: string, request: RunTaskRequest): Promise<{ taskId: string } & CommandAck> {
    const payload = runTaskPayload(daemonId, request);
    return { taskId: payload.taskId, ...(await this.command(ClientMessageType.RunTask, payload)) };
  }

  /** @internal */
  cancelTaskOn(daemonId: string, taskId: string): Promise<CommandAck> {
    return this.command(ClientMessageType.CancelTask, { daemonId, taskId });
  }

  /** @internal The last handle of a daemon in this tab closed. */
  release(watched: WatchedDaemon): void {
    if (this.watched.get(watched.daemonId) !== watched) return;
    this.watched.delete(watched.daemonId);
    watched.state = WatchState.Ended;
    watched.events.removeAll();
    this.post({ k: 'unwatch', tab: this.tabId, daemonId: watched.daemonId });
  }

  /** As `GatewayClient`'s: the ack, the command's id, and `delivery` (its `command-status`, relayed to this tab). */
  private async command(type: ClientMessageType, payload: object): Promise<CommandAck> {
    let sent: Frame | undefined;
    const reply = await this.request(type, payload, (frame) => (sent = frame));
    const ack = acknowledged(reply.payload as AckPayload);
    const delivery = this.commandStatuses.track(sent!, ack);
    delivery.catch(() => undefined);
    return { ...ack, id: sent!.id!, delivery };
  }

  private request(type: ClientMessageType, payload: object, sent?: (frame: Frame) => void): Promise<Frame> {
    return this.requests.request(type, payload, this.options.traceContext?.(), (frame) => {
      sent?.(frame);
      this.post({ k: 'send', tab: this.tabId, frame });
    });
  }

  /** This tab holds the lock: open the connection and ask every tab where it stands. */
  private lead(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.resignLeadership = () => {
        this.relay?.dispose();
        this.relay = undefined;
        resolve();
      };
      const channel = this.channel!;
      this.relay = new TabRelay(this.options, (message) => {
        channel.postMessage(message);
        this.receive(message);
      });
      this.events.emit('leader', undefined);
      this.receive({ k: 'leader', tab: this.tabId });
      channel.postMessage({ k: 'leader', tab: this.tabId } satisfies TabMessage);
    });
  }

  /** To whoever holds the connection: the worker, this tab's own relay, or the leader over the channel. */
  private post(message: TabMessage): void {
    if (this.port) this.port.postMessage(message);
    else if (this.relay) this.relay.receive(message);
    else this.channel?.postMessage(message);
  }

  /** Sends every unanswered command and request again with its id: the gateway runs a command id once. */
  private resendUnanswered(): void {
    for (const frame of this.requests.unanswered([...COMMAND_TYPES, ClientMessageType.GetWorkspaceStatus])) this.post({ k: 'send', tab: this.tabId, frame });
    // Accepted commands still waiting for their status: the answer to the resend says where they stand.
    for (const frame of this.commandStatuses.frames()) this.post({ k: 'send', tab: this.tabId, frame });
  }

  /** From the SharedWorker: what a leader would broadcast, and its requests for a token. */
  private fromWorker(message: TabMessage | { k: 'token'; id: number }): void {
    if (message.k !== 'token') return this.receive(message);
    const { id } = message;
    void Promise.resolve(this.options.getToken?.())
      .catch(() => undefined)
      .then((token) => this.port?.postMessage({ k: 'token', id, token: token ?? undefined }));
  }

  private receive(message: TabMessage): void {
    if (this.disposed) return;
    switch (message.k) {
      case 'leader':
        // A new leader knows nothing: tell it every daemon this tab watches, from where, and
        // send again what it has not answered.
        for (const watched of this.watched.values()) this.post({ k: 'watch', tab: this.tabId, daemonId: watched.daemonId, since: watched.view.position });
        this.resendUnanswered();
        return;
      case 'frame': {
        const watched = this.watched.get(message.daemonId);
        if (!watched || watched.state === WatchState.Ended) return;
        // Waiting for a snapshot: what comes before it is replayed after it.
        if (message.frame.type === ServerMessageType.Subscribed) watched.state = WatchState.Subscribed;
        else if (watched.state !== WatchState.Subscribed) return;
        watched.view.handle(message.frame);
        return;
      }
      case 'ended': {
        const watched = this.watched.get(message.daemonId);
        if (!watched) return;
        this.watched.delete(message.daemonId);
        watched.end(message.reason, message.error && new GatewayRequestError(message.error));
        return;
      }
      case 'reply':
        if (message.tab === this.tabId && !this.commandStatuses.settle(message.frame)) this.requests.settle(message.frame);
        return;
      case 'state': {
        if (message.state !== ConnectionState.Open)
          for (const watched of this.watched.values()) if (watched.state === WatchState.Subscribed) watched.state = WatchState.Subscribing;
        const changed = message.state !== this.currentState;
        if (!changed && message.nextRetryAt === this.retryAt) return;
        this.retryAt = message.nextRetryAt;
        this.currentState = message.state;
        if (changed) this.events.emit('state', message.state);
        this.events.emit('link', undefined);
        // The shared connection came back: what went out on the old one may not have arrived.
        if (changed && message.state === ConnectionState.Open && this.wasOpen) this.resendUnanswered();
        if (message.state === ConnectionState.Open) this.wasOpen = true;
        return;
      }
      default:
        // Messages for the leader: handled by its relay.
        this.relay?.receive(message);
    }
  }
}

/** The options a worker can be sent: what is neither a function nor an object (those stay in the tab). */
function cloneable(options: CrossTabClientOptions): Omit<WorkerConnectionOptions, 'url'> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== null && typeof value !== 'function' && typeof value !== 'object'));
}
