import { Reflector } from '@nestjs/core';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { Role } from '@arbor/gateway-client/protocol';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { LifecycleState } from '../../lifecycle/lifecycle.state.js';
import { SocketPairs, type ClientEnd } from '../../../test/support/socket-pair.js';
import { compileValidator } from '../../validation/compiled-validator.js';
import { Connection } from '../connections/connection.js';
import { DirectRoutes } from './direct-routes.js';
import { GatewayWsAdapter } from './gateway-ws.adapter.js';
import { InboundLimiter, OverRateMode } from '../flow/inbound-limiter.js';
import { FileChangeDto } from '../../daemons/dto/file-change.dto.js';

const now = Math.floor(Date.now() / 1000);

describe('GatewayWsAdapter frame handling', () => {
  let pairs: SocketPairs;
  let adapter: GatewayWsAdapter;
  let directCalls: string[];

  beforeAll(async () => {
    pairs = await SocketPairs.start();
  });

  afterAll(async () => {
    await pairs.stop();
  });

  beforeEach(() => {
    directCalls = [];
    const routes = new DirectRoutes(new Reflector());
    routes.register('file-change', {
      roles: [Role.Daemon],
      validate: compileValidator(FileChangeDto),
      handle: (connection, payload) => {
        directCalls.push(String(payload.path));
        connection.send({ type: 'pong', id: `direct-${String(payload.path)}` });
      },
    });
    adapter = new GatewayWsAdapter(undefined as never, {
      maxPayloadBytes: 4096,
      directRoutes: routes,
      lifecycle: new LifecycleState(),
      metrics: new GatewayMetrics(),
      admission: { admit: async () => undefined },
      fanout: { afterDaemonFrame: () => undefined },
    });
  });

  /** A connection admitted as `role`, with Nest's handlers for ping (sync) and slow (async) bound by the adapter. */
  async function connect(role: Role, session?: string): Promise<{ connection: Connection; client: ClientEnd }> {
    const { server, client } = await pairs.open();
    const identity = { principal: { sub: 'p', role, daemons: new Set(['d1']), expiresAt: now + 300, issuedAt: now }, daemonId: 'd1' };
    const connection = new Connection(server, identity, new InboundLimiter(1024, { rate: 1000, burst: 1000 }, OverRateMode.Refuse));
    connection.session = session;
    connection.release({ type: 'connected' });
    // Nest's handler wrappers, as the adapter sees them (it calls `callback` and awaits what it returns).
    const handlers = [
      { message: 'ping', methodName: 'ping', callback: () => ({ type: 'pong' }) },
      {
        message: 'slow',
        methodName: 'slow',
        callback: async () => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          return { type: 'slow-done' };
        },
      },
    ] as unknown as MessageMappingProperties[];
    adapter.bindMessageHandlers(server, handlers);
    await until(client, 1);
    client.received.length = 0;
    return { connection, client };
  }

  async function until(client: ClientEnd, count: number): Promise<void> {
    const deadline = Date.now() + 2000;
    while (client.received.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  const send = (client: ClientEnd, frame: unknown) => client.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));

  it('answers every frame, in the order sent, whether dispatched directly or through a slow handler', async () => {
    const { client } = await connect(Role.Daemon);
    send(client, { type: 'slow', id: 's1' });
    send(client, { type: 'file-change', payload: { workspaceId: 'w', path: 'a', event: 'add' } });
    send(client, { type: 'ping', id: 'p1' });
    send(client, { type: 'file-change', payload: { workspaceId: 'w', path: 'b', event: 'add' } });
    await until(client, 4);
    expect(client.received).toEqual([
      { type: 'slow-done', id: 's1' },
      { type: 'pong', id: 'direct-a' },
      { type: 'pong', id: 'p1' },
      { type: 'pong', id: 'direct-b' },
    ]);
    expect(directCalls).toEqual(['a', 'b']);
  });

  it.each([
    ['invalid JSON', Role.Client, '{"type":', { code: 'invalid_json' }],
    ['an unknown type, with its id', Role.Client, { type: 'nope', id: 'n1' }, { code: 'unknown_type' }],
    [
      'a direct route for another role',
      Role.Client,
      { type: 'file-change', id: 'f1', payload: { workspaceId: 'w', path: 'a', event: 'add' } },
      { code: 'forbidden' },
    ],
    [
      'a direct route with an invalid payload',
      Role.Daemon,
      { type: 'file-change', id: 'f2', payload: { workspaceId: 'w', path: 'a', event: 'zap' } },
      { code: 'validation_failed', field: 'event' },
    ],
    ['a seq without a session', Role.Daemon, { type: 'ping', id: 's', seq: 1 }, { code: 'bad_request' }],
  ])('answers %s with its error frame and keeps the connection', async (_label, role, frame, error) => {
    const { client } = await connect(role);
    send(client, frame);
    send(client, { type: 'ping', id: 'after' });
    await until(client, 2);
    expect(client.received[0]).toMatchObject({ type: 'error', payload: error });
    expect(client.received[1]).toEqual({ type: 'pong', id: 'after' });
  });

  it("a repeat of an event already accepted from the daemon's session is dropped, not handled twice", async () => {
    const { client } = await connect(Role.Daemon, 'S');
    for (const seq of [1, 2, 2, 1, 3]) send(client, { type: 'file-change', seq, payload: { workspaceId: 'w', path: `e${seq}`, event: 'add' } });
    send(client, { type: 'ping', id: 'p' });
    await until(client, 4);
    expect(directCalls).toEqual(['e1', 'e2', 'e3']);
  });
});
