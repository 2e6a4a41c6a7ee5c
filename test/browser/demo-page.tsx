// The demo page for the browser test: DaemonConnectionStatus against the real gateway. The URL comes
// from NEXT_PUBLIC_WEBSOCKET_URL, defined at bundle time like a Next.js app would.
import { createRoot } from 'react-dom/client';
import { DaemonConnectionStatus, GatewayProvider } from '@arbor/gateway-client/react';

const getToken = async () => {
  const response = await fetch('/token');
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
  return response.text();
};

createRoot(document.getElementById('root')!).render(
  <GatewayProvider getToken={getToken} options={{ minDelay: 100, maxDelay: 1000 }}>
    <h1>Arbor daemon status</h1>
    <DaemonConnectionStatus daemonId="daemon-123" workspaceId="w1" />
  </GatewayProvider>,
);
