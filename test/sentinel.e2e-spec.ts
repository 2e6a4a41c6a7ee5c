import { Role } from '@arbor/gateway-client';
import { reportFailover } from './support/failover-report.js';
import { GatewayProcess } from './support/gateway-process.js';
import { freePort, waitFor, waitForAsync } from './support/ports.js';
import { SentinelGroup, uniquePrefix } from './support/redis.js';
import { verdictWithResync } from './support/stream-verdict.js';
import { TestPeer, type ReceivedFrame } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

const SECRET = 'sentinel-suite-secret-at-least-32-chars';

describe('Redis Sentinel (one primary, one replica, three sentinels; two gateway instances)', () => {
  let group: SentinelGroup;
  const prefix = uniquePrefix();
  const processes: GatewayProcess[] = [];
  let ports: number[] = [];
  const token = (claims: Record<string, unknown>) => signToken(SECRET, claims);
  const daemonUrl = (port: number, daemonId: string) => `ws://127.0.0.1:${port}/ws?session=S&token=${token({ sub: daemonId, role: Role.Daemon })}`;
  const clientUrl = (port: number, daemonId: string) =>
    `ws://127.0.0.1:${port}/ws?daemonId=${daemonId}&token=${token({ sub: 'user-1', role: Role.Client, daemons: [daemonId] })}`;
  const ready = async (port: number) => (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200;

  beforeAll(async () => {
    group = await SentinelGroup.start();
    for (let i = 0; i < 2; i += 1) processes.push(GatewayProcess.onRedis(SECRET, group.url, prefix));
    ports = await Promise.all(processes.map((process) => process.listening()));
    for (const port of ports) await waitForAsync(() => ready(port), `instance on ${port} ready on Sentinel`);
  }, 60_000);

  afterAll(async () => {
    for (const process of processes) process.kill('SIGKILL');
    await group?.stop();
  });

  it('relays a daemon to clients on both instances through the primary the sentinels name', async () => {
    const clients = ports.map((port) => new TestPeer(clientUrl(port, 'd-sentinel')));
    await Promise.all(clients.map((client) => client.next('connected')));
    const daemon = new TestPeer(daemonUrl(ports[0], 'd-sentinel'));
    await daemon.next('connected');
    for (let n = 1; n <= 200; n += 1) daemon.send({ type: 'file-change', seq: n, payload: { workspaceId: 'w1', path: `/${n}`, event: 'change' } });
    await waitFor(
      () => clients.every((client) => client.received.filter((frame) => frame.type === 'file-change').length === 200),
      'both clients have 200 events',
    );
    for (const client of clients) expect(verdictWithResync(client.received, 200)).toEqual([]);
    for (const peer of [...clients, daemon]) peer.terminate();
  });

  /** Streams `total` events from a daemon on instance 0 while `fault` runs; returns how long cross-instance delivery took to resume after it. */
  async function streamThrough(daemonId: string, total: number, fault: () => Promise<unknown>): Promise<{ resumedAfterMs: number; frames: ReceivedFrame[][] }> {
    const clients = ports.map((port) => new TestPeer(clientUrl(port, daemonId)));
    await Promise.all(clients.map((client) => client.next('connected')));
    const daemon = new TestPeer(daemonUrl(ports[0], daemonId));
    await daemon.next('connected');
    let sent = 0;
    let faultOver = false;
    // The last quarter waits for the fault to end, so events flow before, during and after it.
    const sending = (async () => {
      while (sent < total) {
        if (sent >= (total * 3) / 4 && !faultOver) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          continue;
        }
        for (let i = 0; i < 10 && sent < total; i += 1) {
          sent += 1;
          daemon.send({ type: 'file-change', seq: sent, payload: { workspaceId: 'w1', path: `/${sent}`, event: 'change' } });
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await waitFor(() => sent > total / 4, 'a quarter sent');
    await fault();
    faultOver = true;
    const promotedAt = Date.now();
    const remote = clients[1];
    const countAtPromotion = remote.received.length;
    await waitFor(
      () => remote.received.slice(countAtPromotion).some((frame) => frame.type === 'file-change'),
      'cross-instance delivery after the promotion',
      20_000,
    );
    const resumedAfterMs = Date.now() - promotedAt;
    await sending;
    await waitFor(
      () => clients.every((client) => client.received.some((frame) => frame.type === 'file-change' && frame.payload.path === `/${total}`)),
      'the last event at both clients',
      20_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const peer of [...clients, daemon]) peer.terminate();
    return { resumedAfterMs, frames: clients.map((client) => client.received) };
  }

  it('through a planned failover (SENTINEL FAILOVER): every event once and in order at both clients, or resync-required first', async () => {
    const { resumedAfterMs, frames } = await streamThrough('d-planned', 3000, () => group.failover());
    reportFailover('sentinel: SENTINEL FAILOVER', resumedAfterMs, frames);
    for (const received of frames) expect(verdictWithResync(received, 3000)).toEqual([]);
    expect(resumedAfterMs).toBeLessThan(10_000);
    for (const process of processes) expect(process.child.exitCode).toBeNull();
  }, 60_000);

  it('through the primary killed (SIGKILL, promotion by the sentinels): the same, and no instance crashes', async () => {
    let killed = 0;
    const { resumedAfterMs, frames } = await streamThrough('d-killed', 3000, async () => {
      killed = (await group.killPrimary()).killed;
    });
    reportFailover('sentinel: primary SIGKILLed', resumedAfterMs, frames);
    for (const received of frames) expect(verdictWithResync(received, 3000)).toEqual([]);
    expect(resumedAfterMs).toBeLessThan(10_000);
    for (const process of processes) expect(process.child.exitCode).toBeNull();
    group.restartData(killed);
    for (const port of ports) await waitForAsync(() => ready(port), `instance on ${port} ready after the failover`);
  }, 60_000);
});

describe('REDIS_URL forms at boot', () => {
  it.each([
    ['an unknown scheme', 'memcached://127.0.0.1:11211', 'REDIS_URL has an unknown scheme \\"memcached:\\"'],
    ['a Sentinel address without the master name', 'redis+sentinel://:hunter2@127.0.0.1:26379', 'REDIS_URL is a Sentinel address without the master name'],
    ['a Cluster address with a database', 'redis+cluster://:hunter2@127.0.0.1:7000/2', 'REDIS_URL selects database 2; Redis Cluster has database 0 only'],
  ])('%s: the process exits 1 naming the problem, without the address', async (_label, url, message) => {
    const gateway = GatewayProcess.onRedis(SECRET, url, uniquePrefix());
    expect((await gateway.exited).code).toBe(1);
    expect(gateway.stderr).toContain(message);
    expect(gateway.stderr).not.toContain('hunter2');
  });

  it.each([
    ['sentinels', (port: number) => `redis+sentinel://127.0.0.1:${port}/?name=nowhere`, (port: number) => `sentinel nowhere via 127.0.0.1:${port}`],
    ['Cluster seed nodes', (port: number) => `redis+cluster://127.0.0.1:${port}`, (port: number) => `cluster via 127.0.0.1:${port}`],
  ])('unreachable %s: the process starts, is not ready (saying why) and stays live', async (_label, url, address) => {
    const port = await freePort();
    const gateway = GatewayProcess.onRedis(SECRET, url(port), uniquePrefix());
    try {
      const http = await gateway.listening();
      const ready = await fetch(`http://127.0.0.1:${http}/health/ready`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toMatch(/redis/);
      expect((await fetch(`http://127.0.0.1:${http}/health/live`)).status).toBe(200);
      await waitFor(() => gateway.logLines().some((line) => line.msg === 'redis unavailable'), 'the redis unavailable line');
      expect(gateway.logLines().find((line) => line.msg === 'redis unavailable')).toMatchObject({ address: address(port) });
    } finally {
      gateway.kill('SIGKILL');
    }
  });
});
