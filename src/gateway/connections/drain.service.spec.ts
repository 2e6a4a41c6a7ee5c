import { CloseCode, Role } from '@arbor/gateway-client/protocol';
import { InMemoryRevocationList } from '../../auth/revocation.list.js';
import { GatewayConfig } from '../../config/gateway-config.js';
import { LifecycleState } from '../../lifecycle/lifecycle.state.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { SocketPairs } from '../../../test/support/socket-pair.js';
import { ConnectionRegistry } from './connection-registry.js';
import { DrainService } from './drain.service.js';
import { FanoutBackpressure } from '../flow/fanout-backpressure.js';
import { SlowConsumerMonitor } from '../flow/slow-consumer.monitor.js';

describe('DrainService', () => {
  let pairs: SocketPairs;

  beforeAll(async () => {
    pairs = await SocketPairs.start();
  });

  afterAll(async () => {
    await pairs.stop();
  });

  function services(env: Record<string, string>) {
    const config = GatewayConfig.load(env);
    const metrics = new GatewayMetrics();
    const registry = new ConnectionRegistry(
      config,
      metrics,
      new SlowConsumerMonitor(config, metrics),
      new FanoutBackpressure(config, metrics),
      new InMemoryRevocationList(),
    );
    const lifecycle = new LifecycleState();
    return { registry, lifecycle, metrics, drain: new DrainService(registry, lifecycle, metrics, config) };
  }

  it('refuses new work at once, then closes every connection with 1012 and a retry hint, handing daemons over', async () => {
    const { registry, lifecycle, drain } = services({ DRAIN_DELAY_MS: '50', DRAIN_WINDOW_MS: '200' });
    const now = Math.floor(Date.now() / 1000);
    const peers = [];
    for (let i = 0; i < 6; i += 1) peers.push(await pairs.open());
    const connections = peers.map(({ server }, index) => {
      const role = index === 0 ? Role.Daemon : Role.Client;
      const connection = registry.add(
        server,
        { principal: { sub: `p${index}`, role, daemons: new Set(['p0']), expiresAt: now + 300, issuedAt: now }, daemonId: 'p0' },
        `c${index}`,
      );
      connection.release({ type: 'connected' });
      return connection;
    });
    const started = Date.now();
    const drained = drain.drain();
    expect(lifecycle.isShuttingDown).toBe(true);
    // Asked twice (SIGTERM, then Nest's shutdown hook): one drain.
    expect(drain.drain()).toBe(drained);
    await drained;
    const codes = await Promise.all(peers.map(({ client }) => client.closed));
    expect(codes).toEqual(Array(6).fill(CloseCode.ServiceRestart));
    expect(connections.every((connection) => connection.handover)).toBe(true);
    // The delay before closing, for the load balancer to notice.
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
  });

  it('terminates a peer that never answers its close frame', async () => {
    const { registry, drain } = services({ DRAIN_DELAY_MS: '0', DRAIN_WINDOW_MS: '0' });
    const now = Math.floor(Date.now() / 1000);
    const { server, client } = await pairs.open();
    registry.add(server, { principal: { sub: 'u', role: Role.Client, daemons: new Set(['d']), expiresAt: now + 300, issuedAt: now }, daemonId: 'd' }, 'c');
    // It reads nothing more, so it never sees (or answers) the close frame.
    (client.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const closed = new Promise((resolve) => server.once('close', resolve));
    await drain.drain();
    await closed;
    expect(server.readyState).toBe(server.CLOSED);
    // Its close frame was never read: the socket was torn down, not closed by the peer.
    expect(client.socket.readyState).not.toBe(client.socket.CLOSED);
  });
});
