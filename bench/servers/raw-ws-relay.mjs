// Baseline (B): a minimal raw `ws` relay. Daemons connect with ?role=daemon&id=…, clients with
// ?role=client&daemon=…; every daemon frame is parsed and forwarded, serialized once, to that
// daemon's clients. No auth, no validation, no heartbeats: the floor any relay pays.
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT);
const watchers = new Map();
const server = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false });

server.on('connection', (socket, request) => {
  const url = new URL(request.url, 'http://relay');
  if (url.searchParams.get('role') === 'daemon') {
    const daemonId = url.searchParams.get('id');
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
  socket.send('{"type":"connected"}');
});
server.on('listening', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
