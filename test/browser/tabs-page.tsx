// The cross-tab page for the browser test: five daemons through one connection shared by every tab
// of the browser profile (GatewayProvider shareAcrossTabs): held by a leader tab, or with
// ?mode=worker by a SharedWorker (/worker.js). Every file-change a hook is handed is recorded,
// repeats included, in window.arborSeen for the test to check.
import { createRoot } from 'react-dom/client';
import { DaemonConnectionStatus, GatewayProvider, useWebSocket } from '@arbor/gateway-client/react';

const DAEMONS = ['tab-d1', 'tab-d2', 'tab-d3', 'tab-d4', 'tab-d5'];
const seen: Record<string, number[]> = Object.fromEntries(DAEMONS.map((daemonId) => [daemonId, []]));
(window as unknown as { arborSeen: typeof seen }).arborSeen = seen;

const getToken = async () => {
  const response = await fetch('/token');
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
  return response.text();
};

function Daemon({ daemonId }: { daemonId: string }) {
  const { lastMessage } = useWebSocket({
    daemonId,
    onMessage: (frame) => {
      const numbered = frame as { type: string; seq?: number };
      if (numbered.type === 'file-change' && numbered.seq !== undefined) seen[daemonId].push(numbered.seq);
    },
  });
  const seq = (lastMessage as { seq?: number } | undefined)?.seq;
  return (
    <li>
      <DaemonConnectionStatus daemonId={daemonId} />
      <span className="last-seq">last event #{seq ?? '–'}</span>
    </li>
  );
}

const inWorker = new URLSearchParams(location.search).get('mode') === 'worker';
const sharedWorker = inWorker ? () => new SharedWorker('/worker.js', { type: 'module', name: 'arbor-gateway' }) : undefined;

createRoot(document.getElementById('root')!).render(
  <GatewayProvider getToken={getToken} shareAcrossTabs sharedWorker={sharedWorker} options={{ minDelay: 50, maxDelay: 500 }}>
    <h1>Arbor: five daemons, one connection for every tab ({inWorker ? 'shared worker' : 'leader tab'})</h1>
    <ul className="daemons">
      {DAEMONS.map((daemonId) => (
        <Daemon key={daemonId} daemonId={daemonId} />
      ))}
    </ul>
  </GatewayProvider>,
);
