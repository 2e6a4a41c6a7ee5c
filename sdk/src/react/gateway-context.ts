import { createContext, createElement, type ReactNode } from 'react';
import type { TokenSource, WebSocketConstructor } from '../reconnecting-websocket.js';
import type { GatewayClientOptions } from '../gateway-client.js';

export interface GatewaySettings {
  /** The gateway URL; default NEXT_PUBLIC_WEBSOCKET_URL when the bundler defines it, else ws://localhost:3001/ws. */
  url?: string;
  getToken?: TokenSource;
  WebSocket?: WebSocketConstructor;
  /** Further connection options (backoff, queue, heartbeat) for connections opened under this provider. */
  options?: Omit<GatewayClientOptions, 'daemonId' | 'url' | 'getToken' | 'WebSocket'>;
  /** How long a connection outlives its last component, so remounts reuse it. Default 1000 ms. */
  releaseDelayMs?: number;
  /**
   * One connection per browser profile instead of one per page: the tabs elect a leader (Web Locks)
   * that holds it and relays each daemon over a BroadcastChannel. Where the browser lacks either,
   * each page keeps its own connection. Default false.
   */
  shareAcrossTabs?: boolean;
  /**
   * With `shareAcrossTabs`: creates the app's SharedWorker running `startSharedWorkerRelay()`, e.g.
   * `() => new SharedWorker(new URL('./arbor-worker.js', import.meta.url), { type: 'module' })`.
   * Used where the browser has SharedWorker; elsewhere the tabs elect a leader.
   */
  sharedWorker?: () => { port: object };
}

export const GatewayContext = createContext<GatewaySettings>({});

/** Supplies the URL, token source and options to every hook and component below it. */
export function GatewayProvider(props: GatewaySettings & { children?: ReactNode }) {
  const { children, ...settings } = props;
  return createElement(GatewayContext.Provider, { value: settings }, children);
}
