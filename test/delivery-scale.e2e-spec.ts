import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { ConnectionState, DaemonClient, GatewayClient, Role } from '@arbor/gateway-client';
import { GatewayProcess } from './support/gateway-process.js';
import { waitFor, waitForAsync } from './support/ports.js';
import { deletePrefix, DisposableRedis, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { TestPeer } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

const SECRET = 'delivery-scale-secret-at-least-32-chars';
const TOTAL = 20_000;

describe('nothing lost across instances: 20 000 events through cuts, a SIGKILL and killed pub/sub', () => {
  const prefix = uniquePrefix();
  const processes: GatewayProcess[] = [];
  const ports: number[] = [];

  async function startInstance(): Promise<number> {
    const process = GatewayProcess.onRedis(SECRET, SHARED_REDIS_URL, prefix, { REPLAY_MAX_EVENTS: '30000' });
    processes.push(process);
    return process.ready();
  }

  afterAll(async () => {
    for (const process of processes) process.kill('SIGKILL');
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  it('every client ends with every event exactly once, in order', async () => {
    ports.push(await startInstance(), await startInstance(), await startInstance());
    const daemon = new TestPeer(`ws://127.0.0.1:${ports[0]}/ws?token=${signToken(SECRET, { sub: 'd-chaos', role: Role.Daemon })}`);
    await daemon.next('connected');

    // Clients live on instances 1 and 2 and come back through the other one each time.
    let turn = 0;
    const clients = [0, 1].map((index) => {
      const client = new GatewayClient({
        url: () => `ws://127.0.0.1:${ports[1 + ((turn++ + index) % 2)]}/ws`,
        daemonId: 'd-chaos',
        WebSocket,
        getToken: () => signToken(SECRET, { sub: `user-${index}`, role: Role.Client, daemons: ['d-chaos'] }),
        network: null,
        minDelay: 20,
        maxDelay: 200,
      });
      const seen: number[] = [];
      const resyncs: string[] = [];
      client.on('file-change', (frame) => seen.push(Number(frame.payload.path.slice(1))));
      client.on('resync', ({ reason }) => resyncs.push(reason));
      return { client, seen, resyncs };
    });
    const redis = new Redis(SHARED_REDIS_URL);
    try {
      await waitFor(() => clients.every(({ client }) => client.state === ConnectionState.Open), 'clients open');
      const socketOf = (client: GatewayClient) => (client.connection as unknown as { socket?: { close(): void; terminate?: () => void } }).socket;
      const disruptions: Record<number, () => Promise<void>> = {
        3000: async () => {
          for (const { client } of clients) (socketOf(client) as unknown as WebSocket | undefined)?.terminate();
        },
        7000: async () => {
          await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
        },
        11_000: async () => {
          // SIGKILL instance 2; a fresh instance takes its port slot.
          processes[2].kill('SIGKILL');
          await processes[2].exited;
          ports[2] = await startInstance();
        },
        15_000: async () => {
          for (const { client } of clients) (socketOf(client) as unknown as WebSocket | undefined)?.terminate();
          await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
        },
      };
      for (let i = 0; i < TOTAL; i += 1) {
        daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: `e${i}`, event: 'change' } });
        if (disruptions[i]) await disruptions[i]();
        if (i % 200 === 199) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await daemon.assertAlive();
      await waitFor(() => clients.every(({ seen }) => seen.length >= TOTAL), 'all events at every client', 30_000);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const expected = Array.from({ length: TOTAL }, (_, i) => i);
      for (const { seen, resyncs } of clients) {
        expect(resyncs).toEqual([]);
        expect(seen.length).toBe(TOTAL);
        expect(seen).toEqual(expected);
      }
    } finally {
      for (const { client } of clients) client.dispose();
      daemon.terminate();
      redis.disconnect();
    }
  });
});

describe('Redis restarted empty', () => {
  it('changes the epoch: clients are told to resync, nothing crashes, events flow on', async () => {
    const redis = await DisposableRedis.start();
    const prefix = uniquePrefix();
    const started = [0, 1].map(() => GatewayProcess.onRedis(SECRET, redis.url, prefix));
    const [portA, portB] = await Promise.all(started.map((process) => process.ready()));
    const daemon = new DaemonClient({
      url: `ws://127.0.0.1:${portA}/ws`,
      WebSocket,
      getToken: () => signToken(SECRET, { sub: 'd-epoch', role: Role.Daemon }),
      network: null,
      minDelay: 20,
      maxDelay: 200,
    });
    const client = new GatewayClient({
      url: `ws://127.0.0.1:${portB}/ws`,
      daemonId: 'd-epoch',
      WebSocket,
      getToken: () => signToken(SECRET, { sub: 'user-1', role: Role.Client, daemons: ['d-epoch'] }),
      network: null,
      minDelay: 20,
      maxDelay: 200,
    });
    const seen: string[] = [];
    const resyncs: string[] = [];
    client.on('file-change', (frame) => seen.push(frame.payload.path));
    client.on('resync', ({ reason }) => resyncs.push(reason));
    try {
      await waitFor(() => daemon.state === ConnectionState.Open && client.state === ConnectionState.Open, 'both open');
      await waitFor(() => client.daemonStatus === 'online', 'daemon online');
      for (let i = 0; i < 100; i += 1) daemon.fileChange('w1', `before-${i}`, 'add');
      await waitFor(() => seen.length === 100, 'events before');
      const oldPosition = client.position!;

      await redis.stop();
      await redis.start();
      // Instances reconnect, notice the history is gone and start a new epoch.
      await waitForAsync(async () => {
        daemon.fileChange('w1', `after-${seen.length}`, 'add');
        await new Promise((resolve) => setTimeout(resolve, 100));
        return seen.some((path) => path.startsWith('after-'));
      }, 'events after the restart');
      expect(client.position!.epoch).not.toBe(oldPosition.epoch);
      expect(resyncs).toContain('epoch_changed');
      const stale = new TestPeer(
        `ws://127.0.0.1:${portB}/ws?daemonId=d-epoch&since=${oldPosition.epoch}:${oldPosition.seq}&token=${signToken(SECRET, { sub: 'user-2', role: Role.Client, daemons: ['d-epoch'] })}`,
      );
      expect((await stale.next('connected')).payload.recovered).toBe(false);
      expect((await stale.next('resync-required')).payload.reason).toBe('epoch_changed');
      stale.terminate();
      for (const process of started) expect(process.child.exitCode).toBeNull();
    } finally {
      daemon.dispose();
      client.dispose();
      for (const process of started) process.kill('SIGKILL');
      await redis.stop().catch(() => undefined);
    }
  });
});
