// Connects a daemon and a client to a running gateway and shows a file-change travelling from one
// to the other. Usage (see README):
//   DAEMON_TOKEN=… CLIENT_TOKEN=… node examples/walkthrough.mjs
import WebSocket from 'ws';

const url = process.env.GATEWAY_URL ?? `ws://localhost:${process.env.WEBSOCKET_PORT ?? 3001}/ws`;
// Its own daemon id: a simulator running as daemon-123 (README) keeps its connection.
const daemonId = process.env.DAEMON_ID ?? 'daemon-walkthrough';
const { DAEMON_TOKEN, CLIENT_TOKEN } = process.env;
if (!DAEMON_TOKEN || !CLIENT_TOKEN) {
  console.error('Set DAEMON_TOKEN and CLIENT_TOKEN (npm run -s token -- …), see README.');
  process.exit(2);
}

console.log(`gateway: ${url} (GATEWAY_URL, or WEBSOCKET_PORT on localhost)`);
const timeout = setTimeout(() => {
  console.error(`timed out: is the gateway running at ${url} (npm start)?`);
  process.exit(1);
}, 10_000);

function connect(name, address) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(address);
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      console.log(`${name} ← ${JSON.stringify(frame)}`);
      if (frame.type === 'connected') resolve(socket);
    });
    socket.on('close', (code, reason) => reject(Object.assign(new Error(`${name} closed: ${code} ${reason}`), { code, who: name })));
    socket.on('error', reject);
  });
}

/** Ends with what to do, not a stack trace: a refused token is the usual reason. */
function explain(error) {
  clearTimeout(timeout);
  if (error.code === 4401) {
    const role = error.who === 'daemon' ? `daemon --sub ${daemonId}` : `client --sub user-1 --daemons ${daemonId}`;
    console.error(`${error.message}\nThe ${error.who} token was refused (expired? tokens live 5 minutes). Mint a new one:`);
    console.error(`  export ${error.who === 'daemon' ? 'DAEMON' : 'CLIENT'}_TOKEN=$(npm run -s token -- --role ${role})`);
  } else if (error.code === 4403) {
    console.error(`${error.message}\nThe ${error.who} token does not allow this (a client token must list ${daemonId} in --daemons).`);
  } else {
    console.error(`${error.message ?? error}\nIs the gateway running at ${url} (npm start)?`);
  }
  process.exit(1);
}

const daemon = await connect('daemon', `${url}?token=${encodeURIComponent(DAEMON_TOKEN)}`).catch(explain);
const client = await connect('client', `${url}?daemonId=${encodeURIComponent(daemonId)}&token=${encodeURIComponent(CLIENT_TOKEN)}`).catch(explain);

const arrived = new Promise((resolve) => {
  client.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.type === 'file-change') resolve(frame);
  });
});

const send = (frame) => {
  console.log(`daemon → ${JSON.stringify(frame)}`);
  daemon.send(JSON.stringify(frame));
};
send({ type: 'heartbeat', payload: { workspaceIds: ['w1'] } });
send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'src/a.ts', event: 'change' } });

const frame = await arrived;
console.log(`\nfile-change arrived at the client for ${frame.daemonId}: ${frame.payload.path} (${frame.payload.event})`);
clearTimeout(timeout);
client.removeAllListeners('close');
daemon.removeAllListeners('close');
client.close();
daemon.close();
