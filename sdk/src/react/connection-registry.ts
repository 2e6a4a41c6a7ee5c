import { GatewayClient, type GatewayClientOptions } from '../gateway-client.js';
import type { DaemonStatus, Frame } from '../protocol.js';
import { ConnectionState, type TokenSource } from '../reconnecting-websocket.js';

export interface ConnectionSnapshot {
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

/**
 * One GatewayClient per (url, daemonId), shared by every hook and component that asks for it,
 * with an immutable snapshot for useSyncExternalStore.
 */
export class SharedConnection {
  readonly client: GatewayClient;
  private snapshotValue: ConnectionSnapshot = IDLE_SNAPSHOT;
  private readonly listeners = new Set<() => void>();
  private readonly tokenSources: TokenSource[] = [];
  private releaseTimer: ReturnType<typeof setTimeout> | undefined;
  private subscribers = 0;

  constructor(
    readonly key: string,
    options: GatewayClientOptions,
    private readonly releaseDelayMs: number,
    private readonly onDisposed: (key: string) => void,
  ) {
    this.client = new GatewayClient({ ...options, getToken: () => this.currentTokenSource()?.(), startClosed: true });
    this.client.on('state', () => this.update({}));
    // A fresh snapshot replaces what was known: after a failed recovery nothing stale survives.
    this.client.on('connected', (payload) => this.update({ workspaceStatuses: { ...payload.workspaceStatuses } }));
    this.client.on('daemon-status', () => this.update({}));
    this.client.connection.on('reconnecting', () => this.update({}));
    this.client.on('message', (frame) => {
      const patch: Partial<ConnectionSnapshot> = { lastMessage: frame };
      if (frame.type === 'workspace-update') {
        const { workspaceId, status } = frame.payload as { workspaceId: string; status: string };
        patch.workspaceStatuses = { ...this.snapshotValue.workspaceStatuses, [workspaceId]: status };
      }
      this.update(patch);
    });
    this.client.connect();
  }

  get snapshot(): ConnectionSnapshot {
    return this.snapshotValue;
  }

  /** Subscribes a store listener; the returned function releases it (and, later, the connection). */
  subscribe(listener: () => void, getToken: () => TokenSource | undefined): () => void {
    clearTimeout(this.releaseTimer);
    this.subscribers += 1;
    this.listeners.add(listener);
    const source: TokenSource = () => getToken()?.();
    this.tokenSources.push(source);
    return () => {
      this.listeners.delete(listener);
      this.tokenSources.splice(this.tokenSources.indexOf(source), 1);
      this.subscribers -= 1;
      if (this.subscribers === 0) this.releaseTimer = setTimeout(() => this.dispose(), this.releaseDelayMs);
    };
  }

  private currentTokenSource(): TokenSource | undefined {
    return this.tokenSources.at(-1);
  }

  private update(patch: Partial<ConnectionSnapshot>): void {
    const client = this.client;
    const status = client.state;
    this.snapshotValue = {
      ...this.snapshotValue,
      ...patch,
      status,
      isConnected: status === ConnectionState.Open,
      daemonStatus: client.daemonStatus,
      lastHeartbeat: client.lastHeartbeat,
      nextRetryAt: client.connection.nextRetryAt,
    };
    for (const listener of [...this.listeners]) listener();
  }

  private dispose(): void {
    this.client.dispose();
    this.onDisposed(this.key);
  }
}

const REGISTRY_KEY = Symbol.for('@arbor/gateway-client/react/connections');

/** Kept on globalThis so a re-evaluated module (HMR, duplicate bundles) finds the same sockets. */
export function connections(): Map<string, SharedConnection> {
  const store = globalThis as unknown as Record<symbol, Map<string, SharedConnection> | undefined>;
  return (store[REGISTRY_KEY] ??= new Map<string, SharedConnection>());
}

export function acquire(key: string, create: () => GatewayClientOptions, releaseDelayMs = DEFAULT_RELEASE_DELAY_MS): SharedConnection {
  const registry = connections();
  let shared = registry.get(key);
  if (!shared) {
    shared = new SharedConnection(key, create(), releaseDelayMs, (disposedKey) => registry.delete(disposedKey));
    registry.set(key, shared);
  }
  return shared;
}
