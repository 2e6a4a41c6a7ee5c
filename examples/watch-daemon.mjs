// Watches one daemon through the gateway with the SDK's GatewayClient and prints what happens.
// Usage (see README): CLIENT_TOKEN=… node examples/watch-daemon.mjs [daemonId] [--count N]
import WebSocket from 'ws';
import { GatewayClient } from '@arbor/gateway-client';

const args = process.argv.slice(2);
const countIndex = args.indexOf('--count');
const limit = countIndex >= 0 ? Number(args.splice(countIndex, 2)[1]) : Infinity;
const daemonId = args[0] ?? 'daemon-123';
const url = process.env.GATEWAY_URL ?? `ws://localhost:${process.env.WEBSOCKET_PORT ?? 3001}/ws`;
if (!process.env.CLIENT_TOKEN) {
  console.error('Set CLIENT_TOKEN (npm run -s token -- --role client --sub user-1 --daemons daemon-123)');
  process.exit(2);
}

console.log(`gateway: ${url} (GATEWAY_URL, or WEBSOCKET_PORT on localhost)`);
const client = new GatewayClient({ url, daemonId, WebSocket, getToken: () => process.env.CLIENT_TOKEN });
let events = 0;
const done = () => {
  client.dispose();
  process.exit(0);
};
client.on('state', (state) => console.log(`link: ${state}`));
client.on('connected', (snapshot) =>
  console.log(`connected: daemon ${snapshot.daemonId} is ${snapshot.daemonStatus}, workspaces [${snapshot.workspaceIds.join(', ')}]`),
);
client.on('daemon-status', (status) => console.log(`daemon-status: ${status.status}`));
for (const type of ['file-change', 'workspace-update', 'task-status']) {
  client.on(type, (frame) => {
    console.log(`${type}: ${JSON.stringify(frame.payload)}`);
    if (++events >= limit) done();
  });
}
process.on('SIGINT', done);
