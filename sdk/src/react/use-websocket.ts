import { useCallback, useContext, useEffect, useRef, useSyncExternalStore } from 'react';
import { DEFAULT_GATEWAY_URL } from '../gateway-client.js';
import type { Frame, SubscribedPayload } from '../protocol.js';
import type { ConnectionState, TokenSource, WebSocketConstructor } from '../reconnecting-websocket.js';
import type { DaemonWatch } from '../daemon-watch.js';
import { acquire, IDLE_SNAPSHOT, sharedDaemon, type ConnectionSnapshot } from './connection-registry.js';
import { GatewayContext } from './gateway-context.js';

declare const process: { env: Record<string, string | undefined> } | undefined;

export interface UseWebSocketOptions {
  daemonId: string;
  /** Default: the GatewayProvider's, else NEXT_PUBLIC_WEBSOCKET_URL when defined, else ws://localhost:3001/ws. */
  url?: string;
  /** Default: the GatewayProvider's. Called before every connection attempt. */
  getToken?: TokenSource;
  WebSocket?: WebSocketConstructor;
  onMessage?: (frame: Frame) => void;
  /** The daemon's snapshot, on every (re)subscription; `recovered` says whether it resumed. */
  onConnect?: (payload: SubscribedPayload) => void;
}

export interface UseWebSocketResult {
  status: ConnectionState;
  isConnected: boolean;
  daemonStatus: ConnectionSnapshot['daemonStatus'];
  lastHeartbeat: string | null;
  nextRetryAt: number | undefined;
  lastMessage: Frame | undefined;
  workspaceStatuses: ConnectionSnapshot['workspaceStatuses'];
  /** Sends a frame; returns whether it went out now (otherwise it is queued until reconnected). */
  sendMessage: (frame: Frame) => boolean;
  /** The daemon's watch on the shared connection, for requests (getWorkspaceStatus, runTask, …); undefined before mount. */
  client: DaemonWatch | undefined;
}

/** NEXT_PUBLIC_WEBSOCKET_URL is inlined by Next.js-style bundlers; elsewhere `process` may not exist. */
export function defaultGatewayUrl(): string {
  try {
    const fromEnv = process!.env.NEXT_PUBLIC_WEBSOCKET_URL;
    if (fromEnv) return fromEnv;
  } catch {
    // No bundler-defined value.
  }
  return DEFAULT_GATEWAY_URL;
}

/**
 * The live link to one daemon. Every hook of the page shares one connection per gateway URL, each
 * daemon a subscription on it; StrictMode double mounts and HMR remounts reuse both; handlers are
 * read through a ref.
 */
export function useWebSocket(options: UseWebSocketOptions): UseWebSocketResult {
  const settings = useContext(GatewayContext);
  const url = options.url ?? settings.url ?? defaultGatewayUrl();
  const { daemonId } = options;
  const latest = useRef(options);
  const tokenSource = useRef<TokenSource | undefined>(undefined);
  useEffect(() => {
    latest.current = options;
  });
  tokenSource.current = options.getToken ?? settings.getToken;

  const subscribe = useCallback(
    (onStoreChange: () => void) => {
      const shared = acquire(
        url,
        daemonId,
        () => ({
          ...settings.options,
          WebSocket: options.WebSocket ?? settings.WebSocket,
          shareAcrossTabs: settings.shareAcrossTabs,
          sharedWorker: settings.sharedWorker,
        }),
        settings.releaseDelayMs,
      );
      const release = shared.subscribe(onStoreChange, () => tokenSource.current);
      const stopMessages = shared.watch.on('message', (frame) => latest.current.onMessage?.(frame));
      const stopConnected = shared.watch.on('connected', (payload) => latest.current.onConnect?.(payload));
      return () => {
        stopMessages();
        stopConnected();
        release();
      };
    },
    // Settings objects are compared by what they address; a new URL or daemon is a new subscription.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [url, daemonId],
  );
  const getSnapshot = useCallback(() => sharedDaemon(url, daemonId)?.snapshot ?? IDLE_SNAPSHOT, [url, daemonId]);
  const snapshot = useSyncExternalStore(subscribe, getSnapshot, () => IDLE_SNAPSHOT);
  const sendMessage = useCallback((frame: Frame) => sharedDaemon(url, daemonId)?.send(frame) ?? false, [url, daemonId]);

  return {
    status: snapshot.status,
    isConnected: snapshot.isConnected,
    daemonStatus: snapshot.daemonStatus,
    lastHeartbeat: snapshot.lastHeartbeat,
    nextRetryAt: snapshot.nextRetryAt,
    lastMessage: snapshot.lastMessage,
    workspaceStatuses: snapshot.workspaceStatuses,
    sendMessage,
    client: sharedDaemon(url, daemonId)?.watch,
  };
}
