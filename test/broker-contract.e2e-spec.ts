import { CloseCode, DaemonMessageType, Role } from '@arbor/gateway-client/protocol';
import type { Principal } from '../src/auth/principal.js';
import { GatewayConfig } from '../src/config/gateway-config.js';
import { InMemoryDaemonDirectory } from '../src/daemons/daemon-directory.js';
import { DaemonService } from '../src/daemons/daemon.service.js';
import { RedisDaemonDirectory } from '../src/daemons/redis-daemon-directory.js';
import { CommandService } from '../src/daemons/commands/command.service.js';
import { InMemoryCommandInbox } from '../src/daemons/commands/in-memory-command-inbox.js';
import { RedisCommandInbox } from '../src/daemons/commands/redis-command-inbox.js';
import { InMemoryDaemonBroker } from '../src/daemons/in-memory-daemon.broker.js';
import { InMemoryEventStreams } from '../src/daemons/streams/in-memory-event-streams.js';
import { RedisEventStreams } from '../src/daemons/streams/redis-event-streams.js';
import { RedisDaemonBroker } from '../src/daemons/redis-daemon.broker.js';
import { RedisConnections } from '../src/redis/redis-connections.js';
import { InMemoryWorkspaceStatusStore } from '../src/workspaces/in-memory-workspace-status.store.js';
import { RedisWorkspaceStatusStore } from '../src/workspaces/redis-workspace-status.store.js';
import { WorkspacesService } from '../src/workspaces/workspaces.service.js';
import { waitFor } from './support/ports.js';
import type { EventFrame } from '../src/daemons/streams/event-frame.js';
import { RecordingLink } from './support/recording-link.js';
import { deletePrefix, RedisClusterGroup, SentinelGroup, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';

/** Two "instances" of the gateway's services; in memory they are one and the same. */
interface Cluster {
  a: DaemonService;
  b: DaemonService;
  /** The command side of each. */
  commands: { a: CommandService; b: CommandService };
  close(): Promise<void>;
}

const config = GatewayConfig.load({ DAEMON_STALE_MS: '300', DAEMON_TIMEOUT_MS: '900', SWEEP_INTERVAL_MS: '50' });
const streams = () => new InMemoryEventStreams(config.replayMaxEvents, config.replayTtlMs);
const user: Principal = { sub: 'user-1', role: Role.Client, daemons: new Set(['d1']), expiresAt: 0, issuedAt: 0 };

function inMemoryCluster(): Cluster {
  const broker = new InMemoryDaemonBroker();
  const commands = new CommandService(broker, new InMemoryCommandInbox(60_000, 60_000, (daemonId) => broker.localDaemonLink(daemonId)?.id), config);
  commands.onModuleInit();
  const service = new DaemonService(
    broker,
    new WorkspacesService(new InMemoryWorkspaceStatusStore()),
    config,
    streams(),
    commands,
    new InMemoryDaemonDirectory(),
  );
  service.onModuleInit();
  return {
    a: service,
    b: service,
    commands: { a: commands, b: commands },
    close: async () => {
      service.onModuleDestroy();
      commands.onModuleDestroy();
    },
  };
}

async function redisCluster(url = SHARED_REDIS_URL): Promise<Cluster> {
  const prefix = uniquePrefix();
  const connections = await Promise.all([0, 1].map(() => RedisConnections.create(url, prefix)));
  const parts = connections.map((redis) => {
    const history = new RedisEventStreams(redis, config.replayMaxEvents, config.replayTtlMs);
    const broker = new RedisDaemonBroker(redis, config, history);
    broker.onModuleInit();
    const commands = new CommandService(broker, new RedisCommandInbox(redis, 60_000, 60_000), config);
    commands.onModuleInit();
    const service = new DaemonService(
      broker,
      new WorkspacesService(new RedisWorkspaceStatusStore(redis)),
      config,
      history,
      commands,
      new RedisDaemonDirectory(redis),
    );
    service.onModuleInit();
    return { redis, broker, service, commands };
  });
  const close = async () => {
    for (const part of parts) {
      part.service.onModuleDestroy();
      part.commands.onModuleDestroy();
      part.broker.onModuleDestroy();
      await part.redis.onModuleDestroy();
    }
    await deletePrefix(url, prefix);
  };
  // A loaded machine may take a while; an instance still deaf reconnects its subscriber after 6 s.
  await waitFor(
    () => parts.every((part) => part.redis.isReady && part.redis.ownChannelHeard),
    'redis ready and each instance hearing its own channel',
    30_000,
  ).catch(async (error: unknown) => {
    await close();
    throw error;
  });
  return { a: parts[0].service, b: parts[1].service, commands: { a: parts[0].commands, b: parts[1].commands }, close };
}

/** One Sentinel group for the whole file (started on first use): the same suite through the primary the sentinels name. */
let sentinels: Promise<SentinelGroup> | undefined;
async function sentinelCluster(): Promise<Cluster> {
  sentinels ??= SentinelGroup.start();
  const group = await sentinels;
  return redisCluster(group.url);
}

/** Likewise one Redis Cluster (three primaries, three replicas): sharded pub/sub, keys on every shard. */
let redisClusterGroup: Promise<RedisClusterGroup> | undefined;
async function clusterCluster(): Promise<Cluster> {
  redisClusterGroup ??= RedisClusterGroup.start();
  return redisCluster((await redisClusterGroup).url);
}

afterAll(async () => {
  await (await sentinels)?.stop();
  await (await redisClusterGroup)?.stop();
});

describe.each([
  ['in-memory', inMemoryCluster],
  ['redis', () => redisCluster()],
  ['redis sentinel', sentinelCluster],
  ['redis cluster', clusterCluster],
] as const)('DaemonBroker contract: %s', (_name, makeCluster) => {
  let cluster: Cluster;
  /** The cluster this test opened, if its set-up got that far. */
  let opened: Cluster | undefined;

  beforeEach(async () => {
    opened = cluster = await makeCluster();
  }, 60_000);

  afterEach(async () => {
    await opened?.close();
    opened = undefined;
  });

  it('a client on one instance sees a daemon on another come online, send events and go offline', async () => {
    const client = new RecordingLink('client');
    expect((await cluster.b.connectClient('d1', client)).connected.daemonStatus).toBe('offline');
    const daemon = new RecordingLink('daemon');
    await cluster.a.connectDaemon('d1', daemon);
    await waitFor(() => client.statuses().includes('online'), 'online');
    for (let i = 0; i < 200; i += 1) cluster.a.relayEvent('d1', daemon, DaemonMessageType.FileChange, { workspaceId: 'w1', path: `p${i}`, event: 'add' });
    await waitFor(() => client.ofType('file-change').length === 200, 'events');
    expect(client.ofType('file-change').map((frame) => frame.payload.path)).toEqual(Array.from({ length: 200 }, (_, i) => `p${i}`));
    expect(client.ofType('file-change')[0].daemonId).toBe('d1');
    await cluster.a.disconnectDaemon('d1', daemon);
    await waitFor(() => client.statuses().at(-1) === 'offline', 'offline');
    expect(client.statuses()).toEqual(['online', 'offline']);
  });

  it('numbers events once per daemon and resumes a client on any instance from its position', async () => {
    const daemon = new RecordingLink('daemon');
    await cluster.a.connectDaemon('d1', daemon);
    const first = new RecordingLink('first');
    const admission = await cluster.b.connectClient('d1', first);
    for (let i = 0; i < 50; i += 1) cluster.a.relayEvent('d1', daemon, DaemonMessageType.FileChange, { workspaceId: 'w1', path: `p${i}`, event: 'add' });
    await waitFor(() => first.ofType('file-change').length === 50, 'events');
    const events = first.ofType('file-change');
    expect(events.map((frame) => frame.seq)).toEqual(Array.from({ length: 50 }, (_, i) => admission.connected.stream.seq + 1 + i));
    const position = { epoch: events[19].epoch, seq: events[19].seq };
    for (const service of [cluster.a, cluster.b]) {
      const resumed = await service.connectClient('d1', new RecordingLink('resumed'), position);
      expect(resumed.connected.recovered).toBe(true);
      expect(resumed.follow.map((frame) => JSON.parse((frame as EventFrame).text).payload.path)).toEqual(Array.from({ length: 30 }, (_, i) => `p${20 + i}`));
      expect(resumed.follow.map((frame) => (frame as EventFrame).seq)).toEqual(Array.from({ length: 30 }, (_, i) => events[20 + i].seq));
      const stranger = await service.connectClient('d1', new RecordingLink('stranger'), { epoch: 'elsewhere', seq: 3 });
      expect(stranger.connected.recovered).toBe(false);
      expect(stranger.follow[0]).toMatchObject({ type: 'resync-required', payload: { reason: 'epoch_changed' } });
    }
  });

  it('answers get-workspace-status the same on every instance', async () => {
    const daemon = new RecordingLink('daemon');
    await cluster.a.connectDaemon('d1', daemon);
    await cluster.a.heartbeat('d1', daemon, ['w1', 'w2']);
    await cluster.a.updateWorkspace('d1', daemon, { workspaceId: 'w1', status: 'syncing' });
    for (const service of [cluster.a, cluster.b]) {
      expect(await service.getWorkspaceStatus('d1', 'w1')).toEqual({ workspaceId: 'w1', status: 'syncing' });
      expect(await service.getWorkspaceStatus('d1', 'w2')).toEqual({ workspaceId: 'w2', status: 'unknown' });
      await expect(service.getWorkspaceStatus('d1', 'w3')).rejects.toMatchObject({ code: 'not_found' });
    }
    const client = new RecordingLink('client');
    expect((await cluster.b.connectClient('d1', client)).connected.workspaceStatuses).toEqual({ w1: 'syncing', w2: 'unknown' });
  });

  it('routes commands to the instance holding the daemon, and reports daemon_offline when none does', async () => {
    await expect(cluster.commands.b.sendCommand('d1', user, 'run-task' as never, { taskId: 't0' })).rejects.toMatchObject({ code: 'daemon_offline' });
    const daemon = new RecordingLink('daemon');
    await cluster.a.connectDaemon('d1', daemon);
    expect(await cluster.commands.b.sendCommand('d1', user, 'run-task' as never, { taskId: 't1', workspaceId: 'w1', command: 'ls' })).toEqual({
      status: 'accepted',
    });
    await waitFor(() => daemon.ofType('run-task').length === 1, 'command at the daemon');
    expect(daemon.ofType('run-task')[0]).toEqual({
      type: 'run-task',
      id: expect.stringMatching(/^gw-/),
      payload: { taskId: 't1', workspaceId: 'w1', command: 'ls', userId: 'user-1' },
    });
  });

  it('forwards a command id once across instances: a retry through the other gets the original outcome', async () => {
    const daemon = new RecordingLink('daemon');
    await cluster.a.connectDaemon('d1', daemon);
    expect(await cluster.commands.b.sendCommand('d1', user, 'run-task' as never, { taskId: 't1', workspaceId: 'w1', command: 'ls' }, 'cmd-1')).toEqual({
      status: 'accepted',
    });
    expect(await cluster.commands.a.sendCommand('d1', user, 'run-task' as never, { taskId: 't1', workspaceId: 'w1', command: 'ls' }, 'cmd-1')).toEqual({
      status: 'duplicate',
      outcome: 'accepted',
    });
    await waitFor(() => daemon.ofType('run-task').length === 1, 'command at the daemon');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(daemon.ofType('run-task')).toHaveLength(1);
  });

  it('replaces a daemon connection across instances with 4409 and no offline blip', async () => {
    const client = new RecordingLink('client');
    await cluster.b.connectClient('d1', client);
    const older = new RecordingLink('older');
    await cluster.a.connectDaemon('d1', older);
    await waitFor(() => client.statuses().includes('online'), 'online');
    const newer = new RecordingLink('newer');
    await cluster.b.connectDaemon('d1', newer);
    await waitFor(() => older.closedWith !== undefined, 'older closed');
    expect(older.closedWith).toEqual({ code: CloseCode.Replaced, reason: 'replaced by a newer connection' });
    // The closed connection's own disconnect must not announce the daemon offline.
    await cluster.a.disconnectDaemon('d1', older);
    await cluster.commands.a.sendCommand('d1', user, 'cancel-task' as never, { taskId: 't1' });
    await waitFor(() => newer.ofType('cancel-task').length === 1, 'command reaches the newer connection');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.statuses()).toEqual(['online']);
    expect(older.ofType('cancel-task')).toEqual([]);
  });

  it('marks a silent daemon stale and then offline for clients everywhere', async () => {
    const client = new RecordingLink('client');
    await cluster.b.connectClient('d1', client);
    const daemon = new RecordingLink('daemon');
    await cluster.a.connectDaemon('d1', daemon);
    await waitFor(() => client.statuses().join() === 'online,stale,offline', 'stale then offline', 5000);
    expect(daemon.closedWith?.code).toBe(CloseCode.HeartbeatTimeout);
  });
});
