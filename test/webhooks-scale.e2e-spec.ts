import { Role } from '@arbor/gateway-client/protocol';
import { GatewayProcess } from './support/gateway-process.js';
import { Redis } from 'ioredis';
import { waitFor, waitForAsync } from './support/ports.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { TestPeer } from './support/test-peer.js';
import { signToken } from './support/tokens.js';
import { WEBHOOK_TEST_SECRET, WebhookReceiver } from './support/webhook-receiver.js';

const SECRET = 'webhooks-scale-secret-at-least-32-characters';
const RECEIVER_DOWN_MS = 60_000;

/**
 * Webhooks from three instances on Redis: once per transition for the deployment, whichever
 * instances see it; an instance killed still yields its daemons' `offline`; a receiver down for a
 * minute while the whole deployment restarts still gets everything, once.
 */
describe('webhooks across instances on Redis', () => {
  const prefix = uniquePrefix();
  let receiver: WebhookReceiver;
  const processes: GatewayProcess[] = [];
  const peers: TestPeer[] = [];

  const start = async () => {
    const process = GatewayProcess.onRedis(SECRET, SHARED_REDIS_URL, prefix, {
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: WEBHOOK_TEST_SECRET,
      WEBHOOK_RETRY_MAX_MS: '2000',
      DAEMON_STALE_MS: '1500',
      DAEMON_TIMEOUT_MS: '60000',
    });
    processes.push(process);
    return { process, port: await process.ready() };
  };
  const open = async (port: number, token: string, daemonId?: string) => {
    const peer = new TestPeer(`ws://127.0.0.1:${port}/ws?${daemonId ? `daemonId=${daemonId}&` : ''}token=${token}`);
    peers.push(peer);
    await peer.next('connected');
    return peer;
  };
  /** A daemon that heartbeats (so it never goes stale), and its connection. */
  const daemon = async (port: number, daemonId: string) => {
    const peer = await open(port, signToken(SECRET, { sub: daemonId, role: Role.Daemon }));
    const timer = setInterval(() => peer.isOpen && peer.send({ type: 'heartbeat', payload: { workspaceIds: [] } }), 300);
    peer.closed.then(
      () => clearInterval(timer),
      () => clearInterval(timer),
    );
    return peer;
  };
  const watch = (port: number, daemonId: string) => open(port, signToken(SECRET, { sub: 'watcher', role: Role.Client, daemons: [daemonId] }), daemonId);
  const types = (daemonId: string) => receiver.eventsOf(daemonId).map((event) => event.type);

  let instances: Array<{ process: GatewayProcess; port: number }>;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(SHARED_REDIS_URL);
    receiver = await new WebhookReceiver().start();
    instances = await Promise.all([start(), start(), start()]);
  });

  afterAll(async () => {
    for (const peer of peers) peer.terminate();
    for (const process of processes) process.kill('SIGKILL');
    await receiver.stop();
    redis.disconnect();
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  it('one event per transition for the deployment, though three instances see it', async () => {
    const first = await daemon(instances[0].port, 'seen-thrice');
    await watch(instances[1].port, 'seen-thrice');
    await watch(instances[2].port, 'seen-thrice');
    await waitFor(() => types('seen-thrice').length === 1, 'online');
    // It connects again through another instance: the first connection is replaced (4409).
    const second = await daemon(instances[2].port, 'seen-thrice');
    await first.waitClosed();
    await waitFor(() => types('seen-thrice').length === 2, 'replaced');
    second.close();
    await waitFor(() => types('seen-thrice').length === 3, 'offline');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(types('seen-thrice')).toEqual(['daemon.online', 'daemon.replaced', 'daemon.offline']);
    expect(receiver.eventsOf('seen-thrice').map((event) => event.transition)).toEqual([1, 2, 3]);
    expect(receiver.received.every((entry) => entry.signatureValid)).toBe(true);
  });

  it('SIGKILL of the daemon’s instance yields exactly one offline, watched or not', async () => {
    const victim = await start();
    await daemon(victim.port, 'crash-watched');
    await daemon(victim.port, 'crash-alone');
    await watch(instances[0].port, 'crash-watched');
    await watch(instances[1].port, 'crash-watched');
    await waitFor(() => types('crash-watched').length === 1 && types('crash-alone').length === 1, 'online twice');
    victim.process.kill('SIGKILL');
    // Watchers notice the presence expire; nobody watches crash-alone: the reaper reports it once
    // the instance has been silent 10 s and the presence has expired.
    await waitFor(() => types('crash-watched').length === 2 && types('crash-alone').length === 2, 'offline for both', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(types('crash-watched')).toEqual(['daemon.online', 'daemon.offline']);
    expect(types('crash-alone')).toEqual(['daemon.online', 'daemon.offline']);
  }, 45_000);

  it('receiver down a minute while the deployment restarts: everything arrives, once, in transition order', async () => {
    const before = receiver.received.length;
    await receiver.stop();
    const outage = Date.now();
    const flapping = await daemon(instances[2].port, 'outage-d');
    await waitForAsync(async () => (await redis.hget(`${prefix}{d:outage-d}:webhook`, 'status')) === 'online', 'online recorded');
    flapping.close();
    // Reconnecting before the offline is recorded would make it no transition at all (the daemon
    // never looked offline): wait until it is.
    await waitForAsync(async () => (await redis.hget(`${prefix}{d:outage-d}:webhook`, 'status')) === 'offline', 'offline recorded');
    await daemon(instances[1].port, 'outage-d');
    // The whole deployment goes away: what the receiver has not acknowledged is in Redis.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const { process } of instances) process.kill('SIGKILL');
    const restarted = await start();
    await new Promise((resolve) => setTimeout(resolve, RECEIVER_DOWN_MS - (Date.now() - outage)));
    await receiver.start();
    await waitFor(() => types('outage-d').length >= 4, 'the outage’s events', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // online, offline, online — then offline when its instance was killed (the reaper on the new instance).
    expect(types('outage-d')).toEqual(['daemon.online', 'daemon.offline', 'daemon.online', 'daemon.offline']);
    expect(receiver.eventsOf('outage-d').map((event) => event.transition)).toEqual([1, 2, 3, 4]);
    const ids = receiver.received.slice(before).map((entry) => entry.event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(restarted.process.logLines().some((line) => line.msg === 'departed instance settled')).toBe(true);
  }, 120_000);
});
