import type { WorkerConnectionOptions } from './cross-tab-client.js';
import { TabRelay, type PortLike, type TabMessage } from './tab-relay.js';

/** How long the worker waits for a tab to answer a token request before asking another. */
const TOKEN_WAIT_MS = 10_000;

/**
 * Runs the shared connection inside a SharedWorker: call it from the worker script the app serves
 * (`startSharedWorkerRelay()`), and give `CrossTabClient` (or `GatewayProvider`) a `sharedWorker`
 * factory creating that worker. The first tab's `hello` opens the connection; every tab's port gets
 * every daemon's frames (each tab keeps its own view); tokens are asked of the tabs in turn.
 */
export function startSharedWorkerRelay(scope: { onconnect: ((event: { ports: readonly PortLike[] }) => void) | null } = globalThis as never): { stop(): void } {
  const ports: PortLike[] = [];
  let relay: TabRelay | undefined;
  const tokenRequests = new Map<number, (token: string | undefined) => void>();
  let tokenCounter = 0;

  const broadcast = (message: TabMessage | { k: 'token'; id: number }) => {
    for (const port of ports) port.postMessage(message);
  };
  /** The most recent tab is asked first; one that does not answer in time is passed over next time. */
  const askToken = async (): Promise<string | undefined> => {
    for (const port of [...ports].reverse()) {
      const id = ++tokenCounter;
      const token = await new Promise<string | undefined>((resolve) => {
        tokenRequests.set(id, resolve);
        port.postMessage({ k: 'token', id });
        setTimeout(() => {
          if (tokenRequests.delete(id)) resolve(undefined);
        }, TOKEN_WAIT_MS);
      });
      if (token !== undefined) return token;
      ports.splice(ports.indexOf(port), 1);
    }
    return undefined;
  };

  scope.onconnect = (event) => {
    const port = event.ports[0];
    ports.push(port);
    port.onmessage = ({ data }) => {
      const message = data as TabMessage | { k: 'hello'; options: WorkerConnectionOptions } | { k: 'token'; id: number; token?: string };
      switch (message.k) {
        case 'hello':
          relay ??= new TabRelay({ ...message.options, getToken: askToken }, broadcast);
          relay.tellState();
          return;
        case 'token':
          tokenRequests.get(message.id)?.((message as { token?: string }).token);
          tokenRequests.delete(message.id);
          return;
        case 'bye':
          ports.splice(ports.indexOf(port), 1);
          relay?.receive(message);
          // The last tab left: let the connection go (the next tab's hello opens another).
          if (ports.length === 0) stop();
          return;
        default:
          relay?.receive(message);
      }
    };
    port.start?.();
  };
  function stop(): void {
    relay?.dispose();
    relay = undefined;
  }
  return { stop };
}
