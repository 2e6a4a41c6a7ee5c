import { Role } from '@arbor/gateway-client';
import { GatewayConfig } from '../src/config/gateway-config.js';
import { RedisDaemonBroker } from '../src/daemons/redis-daemon.broker.js';
import { RedisEventStreams } from '../src/daemons/streams/redis-event-streams.js';
import { RedisConnections } from '../src/redis/redis-connections.js';
import { reportFailover } from './support/failover-report.js';
import { GatewayProcess } from './support/gateway-process.js';
import { waitFor, waitForAsync } from './support/ports.js';
import { prng } from './support/prng.js';
import { RedisClusterGroup, uniquePrefix } from './support/redis.js';
import { verdictWithResync } from './support/stream-verdict.js';
import { TestPeer, type ReceivedFrame } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

const SECRET = 'cluster-suite-secret-at-least-32-chars';
const config = GatewayConfig.load({});
/** Presence expires fast (a crashed instance's daemons go offline within a second or two) ... */
const TIMING = { DAEMON_STALE_MS: '600', DAEMON_TIMEOUT_MS: '1500', SWEEP_INTERVAL_MS: '50' };
/** ... while daemons streaming through a failover are not timed out by a stall of the shard they write to. */
const STREAMING_TIMING = { ...TIMING, DAEMON_TIMEOUT_MS: '10000' };
/** Slot moves of a streaming daemon, each at a random moment. */
const MOVE_ROUNDS = Number(process.env.MOVE_ROUNDS ?? 4);

describe('Redis Cluster (three primaries, three replicas; three gateway instances)', () => {
  let cluster: RedisClusterGroup;
  const prefix = uniquePrefix();
  const processes: GatewayProcess[] = [];
  let ports: number[] = [];
  const peers: TestPeer[] = [];
  const token = (claims: Record<string, unknown>) => signToken(SECRET, claims);
  const daemon = (port: number, daemonId: string) =>
    track(new TestPeer(`ws://127.0.0.1:${port}/ws?session=S&token=${token({ sub: daemonId, role: Role.Daemon })}`));
  const client = (port: number, daemonId: string, user = 'user-1') =>
    track(new TestPeer(`ws://127.0.0.1:${port}/ws?daemonId=${daemonId}&token=${token({ sub: user, role: Role.Client, daemons: [daemonId] })}`));
  const ready = async (port: number) => (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200;
  const events = (peer: TestPeer) => peer.received.filter((frame) => frame.type === 'file-change');
  /** The key every slot question is asked about: a daemon's stream (all its keys share the slot). */
  const streamKey = (daemonId: string) => `${prefix}{d:${daemonId}}:stream`;

  function track(peer: TestPeer): TestPeer {
    peers.push(peer);
    return peer;
  }

  beforeAll(async () => {
    cluster = await RedisClusterGroup.start();
    for (let i = 0; i < 3; i += 1) processes.push(GatewayProcess.onRedis(SECRET, cluster.url, prefix, STREAMING_TIMING));
    ports = await Promise.all(processes.map((process) => process.listening()));
    for (const port of ports) await waitForAsync(() => ready(port), `instance on ${port} ready on the Cluster`);
  }, 60_000);

  afterEach(() => {
    for (const peer of peers.splice(0)) peer.terminate();
  });

  afterAll(async () => {
    for (const process of processes) process.kill('SIGKILL');
    await cluster?.stop();
  });

  /** Daemon ids whose keys sit on `count` different primaries. */
  async function daemonsOnDifferentShards(count: number, stem: string): Promise<string[]> {
    const byPrimary = new Map<number, string>();
    for (let i = 0; byPrimary.size < count; i += 1) {
      const daemonId = `${stem}-${i}`;
      const primary = await cluster.primaryOf(streamKey(daemonId));
      if (!byPrimary.has(primary)) byPrimary.set(primary, daemonId);
    }
    return [...byPrimary.values()];
  }

  it('instances booting on the Cluster hear their own channel without replacing their subscriber; a replaced subscriber hears its channels again', async () => {
    const booted: Array<{ redis: RedisConnections; broker: RedisDaemonBroker }> = [];
    try {
      // Each boot once raced ioredis's ready check against its shard subscribers and could stay deaf for good.
      for (let i = 0; i < 40; i += 1) {
        const redis = await RedisConnections.create(cluster.url, prefix);
        const broker = new RedisDaemonBroker(redis, config, new RedisEventStreams(redis, config.replayMaxEvents, config.replayTtlMs));
        broker.onModuleInit();
        booted.push({ redis, broker });
        await waitFor(() => redis.ownChannelHeard, `instance ${i} hearing its own channel`, 20_000);
        expect(redis.events.reconnects).toBe(0);
      }
      const { redis } = booted[0];
      const heard: string[] = [];
      redis.onMessage((channel, message) => channel === redis.eventsChannel('replaced-sub') && heard.push(message));
      await redis.subscribe(redis.eventsChannel('replaced-sub'));
      redis.reconnectSubscriber();
      expect(redis.isReady).toBe(false);
      await waitForAsync(async () => {
        if (redis.isReady) await redis.publish(redis.eventsChannel('replaced-sub'), 'again');
        return heard.length > 0;
      }, 'the replaced subscriber hearing its channel');
      expect(redis.events.reconnects).toBe(1);
    } finally {
      for (const { redis, broker } of booted) {
        broker.onModuleDestroy();
        await redis.onModuleDestroy();
      }
    }
  }, 120_000);

  it('daemons on three shards reach clients on the other instances, every event in order; commands cross instances', async () => {
    const daemonIds = await daemonsOnDifferentShards(3, 'd-shard');
    const pairs = await Promise.all(
      daemonIds.map(async (daemonId, index) => {
        const watchers = [client(ports[(index + 1) % 3], daemonId), client(ports[(index + 2) % 3], daemonId)];
        await Promise.all(watchers.map((watcher) => watcher.next('connected')));
        const source = daemon(ports[index], daemonId);
        await source.next('connected');
        return { daemonId, source, watchers };
      }),
    );
    for (const { source } of pairs) {
      for (let n = 1; n <= 300; n += 1) source.send({ type: 'file-change', seq: n, payload: { workspaceId: 'w1', path: `/${n}`, event: 'change' } });
    }
    for (const { watchers } of pairs) {
      await waitFor(() => watchers.every((watcher) => events(watcher).length >= 300), 'every event at every watcher');
      for (const watcher of watchers) expect(verdictWithResync(watcher.received, 300)).toEqual([]);
      for (const watcher of watchers) expect(watcher.received.some((frame) => frame.type === 'resync-required')).toBe(false);
    }
    const [{ daemonId, source, watchers }] = pairs;
    const ack = await watchers[0].request('run-task', { taskId: 't-cluster', workspaceId: 'w1', command: 'echo' });
    expect(ack.payload).toMatchObject({ status: 'accepted' });
    const command = await source.next('run-task');
    expect(command.payload).toMatchObject({ taskId: 't-cluster', userId: 'user-1' });
    expect(daemonId).toBeDefined();
  });

  it('a daemon reconnecting to another instance replaces the old connection with 4409', async () => {
    const first = daemon(ports[0], 'd-replaced');
    await first.next('connected');
    const second = daemon(ports[1], 'd-replaced');
    await second.next('connected');
    expect((await first.waitClosed()).code).toBe(4409);
  });

  it('SIGKILL of the instance holding a daemon: offline at the clients, then online when it reconnects elsewhere', async () => {
    const victim = GatewayProcess.onRedis(SECRET, cluster.url, prefix, TIMING);
    const victimPort = await victim.listening();
    const source = daemon(victimPort, 'd-crash');
    await source.next('connected');
    source.send({ type: 'heartbeat', payload: { workspaceIds: [] } });
    const watchers = [client(ports[1], 'd-crash'), client(ports[2], 'd-crash', 'user-2')];
    for (const watcher of watchers) expect((await watcher.next('connected')).payload.daemonStatus).toBe('online');
    victim.kill('SIGKILL');
    await victim.exited;
    for (const watcher of watchers) await watcher.next((frame) => frame.type === 'daemon-status' && frame.payload.status === 'offline', 'offline', 3000);
    daemon(ports[0], 'd-crash');
    for (const watcher of watchers) await watcher.next((frame) => frame.type === 'daemon-status' && frame.payload.status === 'online', 'online again');
  });

  /**
   * Streams `total` events from a daemon on instance 0 to clients on instances 1 and 2 while
   * `fault` runs; the last quarter waits for the fault to end. Returns the clients' frames and how
   * long after the fault the first cross-instance event arrived.
   */
  async function streamThrough(
    daemonId: string,
    total: number,
    fault: () => Promise<unknown>,
  ): Promise<{ resumedAfterMs: number; frames: ReceivedFrame[][]; source: TestPeer; watchers: TestPeer[] }> {
    const watchers = [client(ports[1], daemonId), client(ports[2], daemonId)];
    await Promise.all(watchers.map((watcher) => watcher.next('connected')));
    const source = daemon(ports[0], daemonId);
    await source.next('connected');
    let sent = 0;
    let faultOver = false;
    const sending = (async () => {
      while (sent < total) {
        if (sent >= (total * 3) / 4 && !faultOver) {
          source.send({ type: 'heartbeat', payload: { workspaceIds: ['w1'] } });
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        for (let i = 0; i < 10 && sent < total; i += 1) {
          sent += 1;
          source.send({ type: 'file-change', seq: sent, payload: { workspaceId: 'w1', path: `/${sent}`, event: 'change' } });
        }
        // Heartbeats as a daemon sends them.
        if (sent % 100 === 0) source.send({ type: 'heartbeat', payload: { workspaceIds: ['w1'] } });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await waitFor(() => sent > total / 4, 'a quarter sent');
    await fault();
    faultOver = true;
    const faultEndedAt = Date.now();
    const before = watchers[0].received.length;
    await waitFor(() => watchers[0].received.slice(before).some((frame) => frame.type === 'file-change'), 'cross-instance delivery after the fault', 20_000);
    const resumedAfterMs = Date.now() - faultEndedAt;
    await sending;
    await waitFor(
      () => watchers.every((watcher) => events(watcher).some((frame) => frame.payload.path === `/${total}`)),
      'the last event at both clients',
      20_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { resumedAfterMs, frames: watchers.map((watcher) => watcher.received), source, watchers };
  }

  it(`moving a streaming daemon's slot to another shard (${MOVE_ROUNDS} rounds at random moments): every event once and in order, or resync-required first`, async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const failures: string[] = [];
    for (let round = 0; round < MOVE_ROUNDS; round += 1) {
      const daemonId = `d-move-${round}`;
      const total = 1000 + Math.floor(random() * 1000);
      const { resumedAfterMs, frames } = await streamThrough(daemonId, total, async () => {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 300)));
        const slot = await cluster.slotOf(streamKey(daemonId));
        const from = await cluster.primaryOf(streamKey(daemonId));
        const others = (await Promise.all(cluster.ports.map(async (port) => ({ port, primary: await isPrimary(port) })))).filter(
          ({ port, primary }) => primary && port !== from,
        );
        await cluster.moveSlot(slot, from, others[Math.floor(random() * others.length)].port);
      });
      reportFailover('cluster: slot moved to another shard', resumedAfterMs, frames);
      frames.forEach((received, index) => {
        const problems = verdictWithResync(received, total);
        if (problems.length) failures.push(`round ${round} (seed ${seed}, ${total} events) client ${index}: ${problems.join('; ')}`);
      });
      for (const peer of peers.splice(0)) peer.terminate();
    }
    expect(failures).toEqual([]);
    for (const process of processes) expect(process.child.exitCode).toBeNull();
  }, 120_000);

  it("SIGKILL of the primary of the daemon's shard while it streams: every event once and in order, or resync-required first; delivery resumes; commands still at most once", async () => {
    const daemonId = 'd-failover';
    let killed = 0;
    const { resumedAfterMs, frames, source, watchers } = await streamThrough(daemonId, 3000, async () => {
      killed = await cluster.primaryOf(streamKey(daemonId));
      await cluster.killPrimary(killed, streamKey(daemonId));
    });
    reportFailover("cluster: primary of the daemon's shard SIGKILLed", resumedAfterMs, frames);
    for (const received of frames) expect(verdictWithResync(received, 3000)).toEqual([]);
    expect(resumedAfterMs).toBeLessThan(10_000);
    for (const process of processes) expect(process.child.exitCode).toBeNull();
    // Commands still cross instances at most once per id: the ledger's key moved with the shard.
    const command = { type: 'run-task', id: 'cmd-after-failover', payload: { taskId: 't-after-failover', workspaceId: 'w1', command: 'build' } };
    watchers[0].send(command);
    expect((await watchers[0].next('ack')).payload).toEqual({ status: 'accepted' });
    await source.next('run-task');
    watchers[1].send(command);
    expect((await watchers[1].next('ack')).payload).toEqual({ status: 'duplicate', outcome: 'accepted' });
    await source.assertAlive();
    expect(source.received.filter((frame) => frame.type === 'run-task')).toHaveLength(1);
    cluster.restartNode(killed);
    for (const port of ports) await waitForAsync(() => ready(port), `instance on ${port} ready after the failover`, 20_000);
  }, 90_000);

  async function isPrimary(port: number): Promise<boolean> {
    const { Redis } = await import('ioredis');
    const node = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
    try {
      await node.connect();
      return ((await node.call('ROLE')) as [string])[0] === 'master';
    } catch {
      return false;
    } finally {
      node.disconnect();
    }
  }
});
