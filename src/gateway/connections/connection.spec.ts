import { Socket, type AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { CLOSE_ERROR_CODES, CloseCode, Role } from '@arbor/gateway-client/protocol';
import type { ConnectionIdentity } from '../../auth/principal.js';
import { Connection } from './connection.js';
import { InboundLimiter, OverRateMode } from '../flow/inbound-limiter.js';

const identity = { principal: { sub: 'user-1', role: Role.Client, expiresAt: 0 }, daemonId: 'd1' } as unknown as ConnectionIdentity;

/** A real WebSocket pair on 127.0.0.1: the server side wrapped in a Connection, the client recording. */
async function pair(server: WebSocketServer): Promise<{ connection: Connection; received: string[]; closed: Promise<number> }> {
  const { port } = server.address() as AddressInfo;
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  const received: string[] = [];
  client.on('message', (data) => received.push((data as Buffer).toString('utf8')));
  const closed = new Promise<number>((resolve) => client.on('close', (code) => resolve(code)));
  await new Promise((resolve) => client.once('open', resolve));
  const connection = new Connection(await accepted, identity, new InboundLimiter(1024, { rate: 100, burst: 100 }, OverRateMode.Refuse));
  // Admitted: frames are no longer held for the `connected` frame.
  connection.release({ type: 'connected' });
  await new Promise<void>((resolve) => client.once('message', () => resolve()));
  received.length = 0;
  return { connection, received, closed };
}

describe('Connection.close', () => {
  let server: WebSocketServer;

  beforeAll(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
  });

  afterAll(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  // Every close the gateway decides goes through Connection.close.
  const codes = [
    CloseCode.PolicyViolation,
    CloseCode.MessageTooBig,
    CloseCode.SlowConsumer,
    CloseCode.Unauthorized,
    CloseCode.Forbidden,
    CloseCode.Replaced,
    CloseCode.HeartbeatTimeout,
    CloseCode.ServiceRestart,
  ];

  it.each(codes)('%i waits for the replies owed, then sends its error frame, then closes', async (code) => {
    const { connection, received, closed } = await pair(server);
    let answer!: () => void;
    const handled = new Promise<void>((resolve) => (answer = resolve));
    connection.enqueue(async () => {
      await handled;
      connection.send({ type: 'pong', id: 'owed' });
    });
    connection.close(code, 'because');
    expect(connection.isClosing).toBe(true);
    // A later close does not replace the first one.
    connection.close(CloseCode.InternalError, 'later');
    answer();
    expect(await closed).toBe(code);
    const errorCode = CLOSE_ERROR_CODES[code];
    const expected: object[] = [{ type: 'pong', id: 'owed' }];
    if (errorCode) expected.push({ type: 'error', payload: { code: errorCode, message: 'because' } });
    expect(received.map((text) => JSON.parse(text))).toEqual(expected);
  });

  it("writes through ws's TCP socket (private `_socket`: the coalesced fast path; see docs/architecture.md)", async () => {
    const { connection } = await pair(server);
    expect(connection.raw).toBeInstanceOf(Socket);
  });

  it('closes at once when nothing is owed', async () => {
    const { connection, received, closed } = await pair(server);
    connection.close(CloseCode.Forbidden, 'revoked');
    expect(await closed).toBe(CloseCode.Forbidden);
    expect(received.map((text) => JSON.parse(text).payload.code)).toEqual(['forbidden']);
  });
});
