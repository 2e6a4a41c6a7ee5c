import { browserTabApis, CrossTabClient } from '../cross-tab-client.js';
import type { DaemonWatch } from '../daemon-watch.js';
import type { Unsubscribe } from '../emitter.js';
import { GatewayClient, type GatewayClientOptions } from '../gateway-client.js';
import { ClientMessageType, type DaemonStatus, type Frame } from '../protocol.js';
import { ConnectionState, type TokenSource } from '../reconnecting-websocket.js';

export interface ConnectionSnapshot {
  /** The link to the gateway; `forbidden` also when the token does not allow this daemon. */
  status: ConnectionState;
  isConnected: boolean;
  daemonStatus: DaemonStatus | undefined;
  lastHeartbeat: string | null;
  /** Epoch ms of the next reconnect attempt while reconnecting. */
  nextRetryAt: number | undefined;
  lastMessage: Frame | undefined;
  workspaceStatuses: Readonly<Record<string, string>>;
}

export const IDLE_SNAPSHOT: ConnectionSnapshot = Object.freeze({
  status: ConnectionState.Idle,
  isConnected: false,
  daemonStatus: undefined,
  lastHeartbeat: null,
  nextRetryAt: undefined,
  lastMessage: undefined,
  workspaceStatuses: Object.freeze({}),
});

/** How long a connection outlives its last subscriber: StrictMode and HMR remount within it. */
export const DEFAULT_RELEASE_DELAY_MS = 1000;

/** Requests and commands name their daemon on a shared connection. */
const DAEMON_ADDRESSED: readonly string[] = [ClientMessageType.RunTask, ClientMessageType.CancelTask, ClientMessageType.GetWorkspaceStatus];

/** Counts holders and disposes a moment after the last one left, unless another came back. */
class Lease {
  private holders = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly delayMs: number,
    private readonly onIdle: () => void,
  ) {}

  take(): void {
    clearTimeout(this.timer);
    this.holders += 1;
  }

  give(): void {
    this.holders -= 1;
    if (this.holders === 0) this.timer = setTimeout(this.onIdle, this.delayMs);
  }
}

/** What a page's shared connection offers its hooks: a multiplexed client, or this tab's share of the browser's one. */
interface WatchingClient {
  readonly state: ConnectionState;
  readonly nextRetryAt: number | undefined;
  /** Calls back when the state or the next retry time changed. */
  onLinkChange(listener: () => void): Unsubscribe;
  watch(daemonId: string): DaemonWatch;
  send(frame: Frame): boolean;
  dispose(): void;
}

export interface SharedConnectionOptions extends Omit<GatewayClientOptions, 'daemonId'> {
  shareAcrossTabs?: boolean;
  sharedWorker?: () => { port: object };
}

function openClient(options: SharedConnectionOptions): WatchingClient {
  const { shareAcrossTabs, sharedWorker, ...clientOptions } = options;
  // A SharedWorker where the browser has one and the app serves it, else a leader tab, else this page alone.
  const workerAvailable = sharedWorker !== undefined && typeof (globalThis as { SharedWorker?: unknown }).SharedWorker === 'function';
  const tabApis = shareAcrossTabs && !workerAvailable ? browserTabApis() : undefined;
  if (shareAcrossTabs && (workerAvailable || tabApis)) {
    const shared = new CrossTabClient(workerAvailable ? { ...clientOptions, sharedWorker } : { ...clientOptions, tabApis });
    return {
      get state() {
        return shared.state;
      },
      get nextRetryAt() {
        return shared.nextRetryAt;
      },
      onLinkChange: (listener) => shared.on('link', listener),
      watch: (daemonId) => shared.watch(daemonId),
      send: (frame) => shared.send(frame),
      dispose: () => shared.dispose(),
    };
  }
  const client = new GatewayClient(clientOptions);
  return {
    get state() {
      return client.state;
    },
    get nextRetryAt() {
      return client.nextRetryAt;
    },
    onLinkChange: (listener) => {
      const stops = [client.on('state', listener), client.connection.on('reconnecting', listener)];
      return () => stops.forEach((stop) => stop());
    },
    watch: (daemonId) => client.watch(daemonId),
    send: (frame) => client.send(frame),
    dispose: () => client.dispose(),
  };
}

/**
 * One multiplexed GatewayClient per gateway URL, shared by every hook and component of the page:
 * each daemon is a subscription on it, not a connection of its own.
 */
export class SharedConnection {
  readonly client: WatchingClient;
  private readonly tokenSources: TokenSource[] = [];
  private readonly lease: Lease;
  readonly daemons = new Map<string, SharedDaemon>();
  disposed = false;

  constructor(
    readonly url: string,
    options: SharedConnectionOptions,
    private readonly releaseDelayMs: number,
    private readonly onDisposed: (url: string) => void,
  ) {
    this.lease = new Lease(releaseDelayMs, () => this.dispose());
    this.client = openClient({ ...options, url, getToken: () => this.tokenSources.at(-1)?.() });
  }

  /** The shared view of one daemon, created on first use. */
  daemon(daemonId: string): SharedDaemon {
    let shared = this.daemons.get(daemonId);
    if (!shared) {
      shared = new SharedDaemon(this, daemonId, this.releaseDelayMs, () => this.daemons.delete(daemonId));
      this.daemons.set(daemonId, shared);
    }
    return shared;
  }

  /** A hook holds the connection (and offers its token source) until the returned function is called. */
  hold(getToken: () => TokenSource | undefined): () => void {
    this.lease.take();
    const source: TokenSource = () => getToken()?.();
    this.tokenSources.push(source);
    return () => {
      this.tokenSources.splice(this.tokenSources.indexOf(source), 1);
      this.lease.give();
    };
  }

  private dispose(): void {
    this.disposed = true;
    this.client.dispose();
    this.onDisposed(this.url);
  }
}

/** One daemon watched on a shared connection, with an immutable snapshot for useSyncExternalStore. */
export class SharedDaemon {
  readonly watch: DaemonWatch;
  private snapshotValue: ConnectionSnapshot = IDLE_SNAPSHOT;
  private forbidden = false;
  private readonly listeners = new Set<() => void>();
  private readonly lease: Lease;
  private readonly stops: Array<() => void> = [];

  constructor(
    private readonly connection: SharedConnection,
    readonly daemonId: string,
    releaseDelayMs: number,
    private readonly onDisposed: () => void,
  ) {
    this.lease = new Lease(releaseDelayMs, () => this.dispose());
    const { client } = connection;
    this.watch = client.watch(daemonId);
    this.stops.push(
      client.onLinkChange(() => this.update({})),
      // A fresh snapshot replaces what was known: after a failed recovery nothing stale survives.
      this.watch.on('connected', (payload) => this.update({ workspaceStatuses: { ...payload.workspaceStatuses } })),
      this.watch.on('daemon-status', () => this.update({})),
      this.watch.on('ended', ({ reason }) => {
        this.forbidden = reason === 'forbidden';
        this.update({});
      }),
      this.watch.on('message', (frame) => {
        const patch: Partial<ConnectionSnapshot> = { lastMessage: frame };
        if (frame.type === 'workspace-update') {
          const { workspaceId, status } = frame.payload as { workspaceId: string; status: string };
          patch.workspaceStatuses = { ...this.snapshotValue.workspaceStatuses, [workspaceId]: status };
        }
        this.update(patch);
      }),
    );
    this.update({});
  }

  get snapshot(): ConnectionSnapshot {
    return this.snapshotValue;
  }

  /** Subscribes a store listener; the returned function releases it (and, later, the subscription). */
  subscribe(listener: () => void, getToken: () => TokenSource | undefined): () => void {
    this.lease.take();
    const releaseConnection = this.connection.hold(getToken);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      this.lease.give();
      releaseConnection();
    };
  }

  /** Sends a frame on the shared connection; requests and commands are addressed to this daemon. */
  send(frame: Frame): boolean {
    const addressed =
      DAEMON_ADDRESSED.includes(frame.type) && typeof frame.payload === 'object' && frame.payload !== null
        ? { ...frame, payload: { ...frame.payload, daemonId: this.daemonId } }
        : frame;
    return this.connection.client.send(addressed);
  }

  private update(patch: Partial<ConnectionSnapshot>): void {
    const { client } = this.connection;
    const status = this.forbidden ? ConnectionState.Forbidden : client.state;
    this.snapshotValue = {
      ...this.snapshotValue,
      ...patch,
      status,
      isConnected: status === ConnectionState.Open,
      daemonStatus: this.watch.daemonStatus,
      lastHeartbeat: this.watch.lastHeartbeat,
      nextRetryAt: client.nextRetryAt,
    };
    for (const listener of [...this.listeners]) listener();
  }

  private dispose(): void {
    for (const stop of this.stops.splice(0)) stop();
    if (!this.connection.disposed) this.watch.close();
    this.onDisposed();
  }
}

const REGISTRY_KEY = Symbol.for('@arbor/gateway-client/react/connections');

/** Kept on globalThis so a re-evaluated module (HMR, duplicate bundles) finds the same sockets. */
export function connections(): Map<string, SharedConnection> {
  const store = globalThis as unknown as Record<symbol, Map<string, SharedConnection> | undefined>;
  return (store[REGISTRY_KEY] ??= new Map<string, SharedConnection>());
}

/** The shared view of one daemon on the page's connection to `url`, created on first use. */
export function acquire(
  url: string,
  daemonId: string,
  create: () => Omit<SharedConnectionOptions, 'url'>,
  releaseDelayMs = DEFAULT_RELEASE_DELAY_MS,
): SharedDaemon {
  const registry = connections();
  let shared = registry.get(url);
  if (!shared) {
    shared = new SharedConnection(url, create(), releaseDelayMs, (disposed) => registry.delete(disposed));
    registry.set(url, shared);
  }
  return shared.daemon(daemonId);
}

/** The shared view of a daemon, if a component holds it now. */
export function sharedDaemon(url: string, daemonId: string): SharedDaemon | undefined {
  return connections().get(url)?.daemons.get(daemonId);
}
