import { useCallback, useContext, useEffect, useRef, useSyncExternalStore } from 'react';
import { DEFAULT_GATEWAY_URL } from '../gateway-client.js';
import type { ClientConnectedPayload, Frame } from '../protocol.js';
import type { ConnectionState, TokenSource, WebSocketConstructor } from '../reconnecting-websocket.js';
import { acquire, connections, IDLE_SNAPSHOT, type ConnectionSnapshot, type SharedConnection } from './connection-registry.js';
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
  onConnect?: (payload: ClientConnectedPayload) => void;
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
  /** The shared client, for requests (getWorkspaceStatus, runTask, …); undefined before mount. */
  client: SharedConnection['client'] | undefined;
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
 * The live link to one daemon. Components asking for the same daemon share one connection;
 * StrictMode double mounts and HMR remounts reuse it; handlers are read through a ref.
 */
export function useWebSocket(options: UseWebSocketOptions): UseWebSocketResult {
  const settings = useContext(GatewayContext);
  const url = options.url ?? settings.url ?? defaultGatewayUrl();
  const key = `${url}|${options.daemonId}`;
  const latest = useRef(options);
  const tokenSource = useRef<TokenSource | undefined>(undefined);
  useEffect(() => {
    latest.current = options;
  });
  tokenSource.current = options.getToken ?? settings.getToken;

  const subscribe = useCallback(
    (onStoreChange: () => void) => {
      const shared = acquire(
        key,
        () => ({
          ...settings.options,
          url,
          daemonId: options.daemonId,
          WebSocket: options.WebSocket ?? settings.WebSocket,
        }),
        settings.releaseDelayMs,
      );
      const release = shared.subscribe(onStoreChange, () => tokenSource.current);
      const stopMessages = shared.client.on('message', (frame) => latest.current.onMessage?.(frame));
      const stopConnected = shared.client.on('connected', (payload) => latest.current.onConnect?.(payload));
      return () => {
        stopMessages();
        stopConnected();
        release();
      };
    },
    // Settings objects are compared by the key they produce; a new URL or daemon is a new connection.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key],
  );
  const getSnapshot = useCallback(() => connections().get(key)?.snapshot ?? IDLE_SNAPSHOT, [key]);
  const snapshot = useSyncExternalStore(subscribe, getSnapshot, () => IDLE_SNAPSHOT);
  const sendMessage = useCallback((frame: Frame) => connections().get(key)?.client.send(frame) ?? false, [key]);

  return {
    status: snapshot.status,
    isConnected: snapshot.isConnected,
    daemonStatus: snapshot.daemonStatus,
    lastHeartbeat: snapshot.lastHeartbeat,
    nextRetryAt: snapshot.nextRetryAt,
    lastMessage: snapshot.lastMessage,
    workspaceStatuses: snapshot.workspaceStatuses,
    sendMessage,
    client: connections().get(key)?.client,
  };
}
