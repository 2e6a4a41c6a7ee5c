// Watches one daemon through the gateway with the SDK's GatewayClient and prints what happens.
// Usage (see README): node examples/watch-daemon.mjs [daemonId] [--count N] [--run "command args…"]
// With --run it sends one run-task once the daemon is online, prints its ack, its delivery and each
// task-status, and exits when the task ends (0 when it succeeded).
// It gets a fresh token for every connection and every refresh, as an app does from its backend:
// from the gateway's POST /auth/token when AUTH_API_KEY is set, else signed with JWT_SECRET (or the
// development secret of a gateway started without one). CLIENT_TOKEN instead fixes one token,
// which lasts only until it expires.
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { GatewayClient } from '@arbor/gateway-client';
import { DEVELOPMENT_JWT_SECRET } from '@arbor/gateway-client/protocol';

const args = process.argv.slice(2);
const countIndex = args.indexOf('--count');
const limit = countIndex >= 0 ? Number(args.splice(countIndex, 2)[1]) : Infinity;
const runIndex = args.indexOf('--run');
const run = runIndex >= 0 ? args.splice(runIndex, 2)[1]?.split(' ').filter(Boolean) : undefined;
const daemonId = args[0] ?? 'daemon-123';
const url = process.env.GATEWAY_URL ?? `ws://localhost:${process.env.WEBSOCKET_PORT ?? 3001}/ws`;
const user = process.env.USER_ID ?? 'user-1';
const ttlSeconds = Number(process.env.TOKEN_TTL_SECONDS ?? 300);

/** A client token for this user and daemon, minted now. */
async function freshToken() {
  if (process.env.CLIENT_TOKEN) return process.env.CLIENT_TOKEN;
  const claims = { sub: user, role: 'client', daemons: [daemonId], ttlSeconds };
  if (process.env.AUTH_API_KEY) {
    const endpoint = new URL('/auth/token', url.replace(/^ws/, 'http'));
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.AUTH_API_KEY}` },
      body: JSON.stringify(claims),
    });
    if (!response.ok) throw new Error(`POST ${endpoint} answered ${response.status}`);
    return (await response.json()).token;
  }
  const now = Math.floor(Date.now() / 1000);
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const payload = { sub: user, role: 'client', daemons: [daemonId], aud: process.env.JWT_AUDIENCE ?? 'arbor-gateway', iat: now, exp: now + ttlSeconds };
  const input = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(payload)}`;
  return `${input}.${createHmac('sha256', process.env.JWT_SECRET ?? DEVELOPMENT_JWT_SECRET)
    .update(input)
    .digest('base64url')}`;
}

console.log(`gateway: ${url} (GATEWAY_URL, or WEBSOCKET_PORT on localhost)`);
const client = new GatewayClient({ url, daemonId, WebSocket, getToken: freshToken });
let events = 0;
const done = () => {
  client.dispose();
  process.exit(0);
};
client.on('state', (state) => console.log(`link: ${state}`));
// Say why the link fails; stop when another attempt cannot help (a refused key or token).
client.on('error', (error) => {
  console.error(`error: ${error.message}`);
  const status = /answered (401|403)|Unexpected server response: (401|403)/.exec(error.message);
  if (!status && error.name !== 'GatewayCloseError') return;
  const hint = status
    ? 'the gateway refused the credentials: check AUTH_API_KEY (or JWT_SECRET, CLIENT_TOKEN) against the gateway'
    : 'the gateway ended the connection for good';
  console.error(`${hint}; stopping`);
  client.dispose();
  process.exit(1);
});
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

if (run) {
  const [command, ...commandArgs] = run;
  const taskId = `task-${Date.now().toString(36)}`;
  let sent = false;
  // The daemon may finish the task before its confirmation comes back: the end waits for it (5 s at most).
  let deliveryPrinted;
  const delivered = new Promise((resolve) => (deliveryPrinted = resolve));
  const send = async (snapshot) => {
    if (sent || snapshot.daemonStatus !== 'online') return;
    sent = true;
    const workspaceId = snapshot.workspaceIds[0] ?? 'w1';
    try {
      const { status, delivery } = await client.runTask({ workspaceId, command, args: commandArgs, taskId });
      console.log(`run-task ${taskId} (${command} ${commandArgs.join(' ')}) in ${workspaceId}: ${status}`);
      console.log(`run-task ${taskId}: ${await delivery}`);
      deliveryPrinted();
    } catch (error) {
      console.error(`run-task ${taskId} refused: ${error.message}`);
      client.dispose();
      process.exit(1);
    }
  };
  client.on('connected', (snapshot) => void send(snapshot));
  client.on('daemon-status', (status) => status.status === 'online' && void send({ daemonStatus: 'online', workspaceIds: client.workspaceIds }));
  client.on('task-status', async (frame) => {
    const { status } = frame.payload;
    if (frame.payload.taskId !== taskId || !['succeeded', 'failed', 'cancelled'].includes(status)) return;
    await Promise.race([delivered, new Promise((resolve) => setTimeout(resolve, 5000))]);
    client.dispose();
    process.exit(status === 'succeeded' ? 0 : 1);
  });
}
