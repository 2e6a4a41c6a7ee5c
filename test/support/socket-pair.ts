import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/** The client end of a real WebSocket pair on 127.0.0.1, recording what it receives. */
export interface ClientEnd {
  socket: WebSocket;
  received: unknown[];
  closed: Promise<number>;
}

/** A ws server on an ephemeral 127.0.0.1 port whose accepted sockets a unit spec wraps itself. */
export class SocketPairs {
  private constructor(private readonly server: WebSocketServer) {}

  static async start(): Promise<SocketPairs> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    return new SocketPairs(server);
  }

  /** Opens a client and resolves with both ends once the handshake is done; one pair at a time. */
  async open(): Promise<{ server: WebSocket; client: ClientEnd }> {
    const { port } = this.server.address() as AddressInfo;
    const accepted = new Promise<WebSocket>((resolve) => this.server.once('connection', resolve));
    const socket = new WebSocket(`ws://127.0.0.1:${port}`);
    const received: unknown[] = [];
    socket.on('message', (data) => received.push(JSON.parse((data as Buffer).toString('utf8'))));
    socket.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    await new Promise((resolve) => socket.once('open', resolve));
    return { server: await accepted, client: { socket, received, closed } };
  }

  async stop(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
