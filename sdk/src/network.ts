import type { Unsubscribe } from './emitter.js';

/** Where online/offline news comes from: the browser, a test, or nowhere (Node). */
export interface NetworkMonitor {
  isOnline(): boolean;
  subscribe(onOnline: () => void, onOffline: () => void): Unsubscribe;
}

interface BrowserGlobals {
  navigator?: { onLine?: boolean };
  addEventListener?: (type: string, listener: () => void) => void;
  removeEventListener?: (type: string, listener: () => void) => void;
}

/** The browser's `online`/`offline` events, or null where there are none. */
export function browserNetwork(globals: BrowserGlobals = globalThis): NetworkMonitor | null {
  const { addEventListener, removeEventListener } = globals;
  if (typeof addEventListener !== 'function' || typeof removeEventListener !== 'function' || !globals.navigator) return null;
  return {
    isOnline: () => globals.navigator?.onLine !== false,
    subscribe(onOnline, onOffline) {
      addEventListener.call(globals, 'online', onOnline);
      addEventListener.call(globals, 'offline', onOffline);
      return () => {
        removeEventListener.call(globals, 'online', onOnline);
        removeEventListener.call(globals, 'offline', onOffline);
      };
    },
  };
}
