// Baseline (B): a minimal raw `ws` relay. Daemons connect with ?role=daemon&id=…, clients with
// ?role=client&daemon=…; every daemon frame is parsed and forwarded, serialized once, to that
// daemon's clients, and every client frame to its daemon. No auth, no validation, no heartbeats,
// no confirmation: the floor any relay pays.
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT);
const watchers = new Map();
const daemons = new Map();
const server = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false });

server.on('connection', (socket, request) => {
  const url = new URL(request.url, 'http://relay');
  if (url.searchParams.get('role') === 'daemon') {
    const daemonId = url.searchParams.get('id');
    daemons.set(daemonId, socket);
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      const out = JSON.stringify({ type: frame.type, daemonId, payload: frame.payload });
      for (const client of watchers.get(daemonId) ?? []) client.send(out);
    });
    socket.send('{"type":"connected"}');
    return;
  }
  const daemonId = url.searchParams.get('daemon');
  let set = watchers.get(daemonId);
  if (!set) watchers.set(daemonId, (set = new Set()));
  set.add(socket);
  socket.on('close', () => set.delete(socket));
  // A client's frame (a command) is parsed and forwarded to its daemon: the floor for commands.
  socket.on('message', (data) => daemons.get(daemonId)?.send(JSON.stringify(JSON.parse(data.toString()))));
  socket.send('{"type":"connected"}');
});
server.on('listening', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
