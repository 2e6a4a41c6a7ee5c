import { CloseCode, ErrorCode, Role } from '@arbor/gateway-client/protocol';
import { AuthError } from '../../auth/auth.error.js';
import type { ConnectionIdentity } from '../../auth/principal.js';
import { RevocationKind } from '../../auth/revocation.js';
import { InMemoryRevocationList } from '../../auth/revocation.list.js';
import { GatewayConfig } from '../../config/gateway-config.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { SocketPairs } from '../../../test/support/socket-pair.js';
import { ConnectionRegistry } from './connection-registry.js';
import { FanoutBackpressure } from '../flow/fanout-backpressure.js';
import { SlowConsumerMonitor } from '../flow/slow-consumer.monitor.js';

const now = () => Math.floor(Date.now() / 1000);

function identity(sub: string, role: Role, expiresAt = now() + 300): ConnectionIdentity {
  return { principal: { sub, role, daemons: new Set(['d1']), expiresAt, issuedAt: now() - 1 }, daemonId: role === Role.Daemon ? sub : 'd1' };
}

async function metric(metrics: GatewayMetrics, line: string): Promise<number> {
  const text = await metrics.registry.metrics();
  return Number(
    text
      .split('\n')
      .find((entry) => entry.startsWith(line))
      ?.split(' ')
      .at(-1) ?? NaN,
  );
}

describe('ConnectionRegistry', () => {
  let pairs: SocketPairs;
  let registry: ConnectionRegistry;
  let metrics: GatewayMetrics;
  let revocations: InMemoryRevocationList;

  beforeAll(async () => {
    pairs = await SocketPairs.start();
  });

  afterAll(async () => {
    await pairs.stop();
  });

  beforeEach(() => {
    const config = GatewayConfig.load({ PING_INTERVAL_MS: '40', TOKEN_GRACE_MS: '0' });
    metrics = new GatewayMetrics();
    revocations = new InMemoryRevocationList();
    registry = new ConnectionRegistry(config, metrics, new SlowConsumerMonitor(config, metrics), new FanoutBackpressure(config, metrics), revocations);
  });

  afterEach(() => registry.stop());

  it('counts connections by role in and out, with the close code', async () => {
    const { server } = await pairs.open();
    const connection = registry.add(server, identity('user-1', Role.Client), 'c1');
    expect(registry.size).toBe(1);
    expect(await metric(metrics, 'arbor_connections{role="client"}')).toBe(1);
    registry.remove(connection, CloseCode.Normal);
    registry.remove(connection, CloseCode.Normal);
    expect(registry.size).toBe(0);
    expect(await metric(metrics, 'arbor_connections{role="client"}')).toBe(0);
    expect(await metric(metrics, 'arbor_disconnects_total{role="client",code="1000"}')).toBe(1);
  });

  it('closes a connection with 4401 once its token has expired (past the grace)', async () => {
    const { server, client } = await pairs.open();
    const connection = registry.add(server, identity('user-1', Role.Client, now() - 1), 'c1');
    connection.release({ type: 'connected' });
    registry.start();
    expect(await client.closed).toBe(CloseCode.Unauthorized);
    expect(client.received.at(-1)).toMatchObject({ type: 'error', payload: { code: 'unauthorized' } });
  });

  it('a refreshed token moves the deadline; a refused one changes nothing, and one for another identity closes with 4403', async () => {
    const { server, client } = await pairs.open();
    const connection = registry.add(server, identity('user-1', Role.Client, now() - 1), 'c1');
    connection.release({ type: 'connected' });
    const fresh = identity('user-1', Role.Client);
    expect(await registry.reauthorize(connection, async () => fresh)).toBe(new Date(fresh.principal.expiresAt * 1000).toISOString());
    expect(connection.identity).toBe(fresh);
    await expect(registry.reauthorize(connection, () => Promise.reject(new AuthError(ErrorCode.Unauthorized, 'invalid token: expired')))).rejects.toMatchObject(
      {
        code: 'unauthorized',
      },
    );
    registry.start();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    await expect(registry.reauthorize(connection, () => Promise.reject(new AuthError(ErrorCode.Forbidden, 'another identity')))).rejects.toMatchObject({
      code: 'forbidden',
    });
    expect(await client.closed).toBe(CloseCode.Forbidden);
  });

  it("closes exactly the revoked user's connections with 4403", async () => {
    const revoked = await pairs.open();
    const other = await pairs.open();
    registry.add(revoked.server, identity('user-1', Role.Client), 'c1').release({ type: 'connected' });
    registry.add(other.server, identity('user-2', Role.Client), 'c2').release({ type: 'connected' });
    await revocations.revoke({ kind: RevocationKind.User, value: 'user-1', revokedAt: Date.now(), expiresAt: Date.now() + 60_000 });
    expect(await revoked.client.closed).toBe(CloseCode.Forbidden);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(other.client.socket.readyState).toBe(other.client.socket.OPEN);
  });

  it('terminates a peer that stops answering pings, and keeps one that answers', async () => {
    const silent = await pairs.open();
    const alive = await pairs.open();
    registry.add(silent.server, identity('user-1', Role.Client), 'c1');
    registry.add(alive.server, identity('user-2', Role.Client), 'c2');
    // A paused socket reads no ping, so it sends no pong: a half-open peer.
    (silent.client.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    registry.start();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(silent.server.readyState).toBe(silent.server.CLOSED);
    expect(alive.server.readyState).toBe(alive.server.OPEN);
  });
});
