// Comparison (C): a Socket.IO 4 relay with one room per daemon, websocket transport only.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.env.PORT);
const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });

io.on('connection', (socket) => {
  const { role, id, daemon } = socket.handshake.query;
  if (role === 'daemon') {
    socket.on('event', (frame) => io.to(`daemon:${id}`).emit('event', { type: frame.type, daemonId: id, payload: frame.payload }));
  } else {
    socket.join(`daemon:${daemon}`);
  }
  socket.emit('connected');
});
http.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
