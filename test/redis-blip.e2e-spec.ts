import { Role } from '@arbor/gateway-client';
import { GatewayProcess } from './support/gateway-process.js';
import { waitFor, waitForAsync } from './support/ports.js';
import { prng } from './support/prng.js';
import { DisposableRedis, uniquePrefix } from './support/redis.js';
import { verdictAfterResync } from './support/stream-verdict.js';
import { TestPeer, type ReceivedFrame } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

const SECRET = 'redis-blip-secret-at-least-32-characters';
/** Redis outages per run, each with its own timings. */
const OUTAGES = 4;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A raw client's frames (repeats kept): the events `/1`…`/total` exactly once and in order, `seq`
 * consecutive in one epoch, and never a `resync-required`. Where one came, it says where, and
 * whether the weaker promise (any gap or new epoch only after `resync-required`) held too.
 */
function verdict(frames: readonly ReceivedFrame[], total: number): string[] {
  const problems: string[] = [];
  const indexes = frames.filter((frame) => frame.type === 'file-change').map((frame) => Number(String(frame.payload.path).slice(1)));
  for (let i = 0; i < indexes.length && problems.length < 5; i += 1) if (indexes[i] !== i + 1) problems.push(`event ${indexes[i]} at position ${i + 1}`);
  if (indexes.length !== total) problems.push(`${indexes.length} events of ${total}`);
  const numbered = frames.filter((frame) => frame.seq !== undefined);
  for (let i = 1; i < numbered.length && problems.length < 10; i += 1) {
    const [before, after] = [numbered[i - 1], numbered[i]];
    if (after.epoch !== before.epoch) problems.push(`epoch changed at frame ${i}`);
    else if (after.seq !== before.seq! + 1) problems.push(`seq ${before.seq} then ${after.seq}`);
  }
  const resync = frames.findIndex((frame) => frame.type === 'resync-required');
  if (resync >= 0) {
    const numberedBefore = frames.slice(0, resync).filter((frame) => frame.seq !== undefined).length;
    problems.push(`resync-required after ${numberedBefore} numbered frames: ${JSON.stringify(frames[resync].payload)}`);
  }
  // Which promise failed: blips without resync (this suite's), or every event once and in order unless told (the product's).
  for (const broken of verdictAfterResync(frames, total)) problems.push(`delivery promise broken: ${broken}`);
  return problems;
}

describe('Redis blips while the holder keeps its daemon (three instances)', () => {
  const prefix = uniquePrefix();
  const processes: GatewayProcess[] = [];
  const peers: TestPeer[] = [];
  let redis: DisposableRedis;
  let ports: number[] = [];
  const track = (peer: TestPeer) => (peers.push(peer), peer);

  beforeAll(async () => {
    redis = await DisposableRedis.start();
    for (let i = 0; i < 3; i += 1) processes.push(GatewayProcess.onRedis(SECRET, redis.url, prefix));
    ports = await Promise.all(processes.map((process) => process.ready()));
  });

  afterAll(async () => {
    for (const peer of peers) peer.terminate();
    for (const process of processes) process.kill('SIGKILL');
    await redis?.stop().catch(() => undefined);
  });

  const token = (claims: Record<string, unknown>) => signToken(SECRET, claims);
  const daemonAt = (port: number, daemonId: string) =>
    track(new TestPeer(`ws://127.0.0.1:${port}/ws?session=s1&token=${token({ sub: daemonId, role: Role.Daemon })}`));
  const clientAt = (port: number, daemonId: string, user: string) =>
    track(new TestPeer(`ws://127.0.0.1:${port}/ws?daemonId=${daemonId}&token=${token({ sub: user, role: Role.Client, daemons: [daemonId] })}`));
  const ready = (index: number) => processes[index].ready().then(() => true);

  it(`every client, on the daemon's instance and elsewhere, gets every event once, in order, with no resync-required (${OUTAGES} outages of random length while events flow at random pace)`, async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const daemonId = 'd-blip';
    const daemon = daemonAt(ports[0], daemonId);
    await daemon.next('connected');
    const clients = ports.map((port, index) => clientAt(port, daemonId, `user-${index}`));
    for (const client of clients) await client.next('connected');

    let sent = 0;
    let sending = true;
    const send = (async () => {
      while (sending) {
        // About 200 events a second: an outage's events stay within the history (REPLAY_MAX_EVENTS).
        const burst = 1 + Math.floor(random() * 4);
        for (let i = 0; i < burst; i += 1) {
          sent += 1;
          daemon.send({ type: 'file-change', seq: sent, payload: { workspaceId: 'w1', path: `/${sent}`, event: 'change' } });
        }
        await sleep(5 + Math.floor(random() * 20));
      }
    })();

    const outages: string[] = [];
    try {
      for (let outage = 0; outage < OUTAGES; outage += 1) {
        await sleep(200 + Math.floor(random() * 600));
        const lengthMs = 300 + Math.floor(random() * 2500);
        const before = sent;
        await redis.stop({ save: true });
        await sleep(lengthMs);
        await redis.start();
        outages.push(`${lengthMs} ms from event ${before} to ${sent}`);
        for (let index = 0; index < processes.length; index += 1) await waitForAsync(() => ready(index), `instance ${index} ready again`, 15_000);
      }
      await sleep(300);
    } finally {
      // A failed wait must not leave the sender running: it would keep jest from exiting.
      sending = false;
      await send;
    }
    const total = sent;
    await waitFor(
      () => clients.every((client) => client.received.filter((frame) => frame.type === 'file-change').length >= total),
      'every client has every event',
      15_000,
    ).catch(() => undefined);

    const problems = clients.map((client, index) => ({ client: index, problems: verdict(client.received, total) })).filter(({ problems }) => problems.length);
    expect({ seed, outages, problems }).toEqual({ seed, outages, problems: [] });
    // The daemon is acknowledged up to its last event once the outage's events are recorded.
    await waitFor(() => daemon.received.some((frame) => frame.type === 'ack' && frame.payload?.seq === total), 'daemon acknowledged to the end');
    for (const gateway of processes) expect(gateway.stderr).not.toMatch(/Unhandled|unhandledRejection/i);
  }, 180_000);

  /**
   * A daemon that keeps each event until the gateway acknowledges it and sends the rest again on
   * every new connection (after `connected.lastSeq`), as DaemonClient does.
   */
  class ResendingDaemon {
    private readonly kept = new Map<number, object>();
    private sent = 0;
    peer: TestPeer | undefined;

    constructor(readonly daemonId: string) {}

    async connect(port: number): Promise<void> {
      const peer = daemonAt(port, this.daemonId);
      peer.socket.on('message', (data) => {
        const frame = JSON.parse((data as Buffer).toString('utf8')) as ReceivedFrame;
        const upTo = frame.type === 'ack' ? Number(frame.payload.seq) : frame.type === 'connected' ? Number(frame.payload.lastSeq) : undefined;
        if (upTo !== undefined) for (const seq of this.kept.keys()) if (seq <= upTo) this.kept.delete(seq);
        if (frame.type === 'connected') for (const event of this.kept.values()) peer.send(event);
      });
      this.peer = peer;
      await peer.next('connected');
    }

    send(): number {
      this.sent += 1;
      const event = { type: 'file-change', seq: this.sent, payload: { workspaceId: 'w1', path: `/${this.sent}`, event: 'change' } };
      this.kept.set(this.sent, event);
      if (this.peer?.isOpen) this.peer.send(event);
      return this.sent;
    }
  }

  it('a daemon that moves to another instance during an outage: every client ends with every event, in order, any repeat or gap only after an explicit resync-required (3 rounds)', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const failures: unknown[] = [];
    for (let round = 0; round < 3; round += 1) {
      const daemon = new ResendingDaemon(`d-blip-move-${round}`);
      const [from, to] = round === 1 ? [1, 0] : [0, 1 + (round % 2)];
      await daemon.connect(ports[from]);
      const clients = ports.map((port, index) => clientAt(port, daemon.daemonId, `user-${index}`));
      for (const client of clients) await client.next('connected');
      const pace = async (count: number) => {
        for (let i = 0; i < count; i += 1) {
          daemon.send();
          if (i % 4 === 3) await sleep(Math.floor(random() * 10));
        }
      };
      await pace(50 + Math.floor(random() * 100));
      await redis.stop({ save: true });
      await pace(20 + Math.floor(random() * 100));
      // The link dies without a close frame; the daemon comes back on another instance, Redis still away.
      daemon.peer!.terminate();
      await sleep(Math.floor(random() * 300));
      await daemon.connect(ports[to]);
      await pace(20 + Math.floor(random() * 100));
      await redis.start();
      for (let index = 0; index < processes.length; index += 1) await waitForAsync(() => ready(index), `instance ${index} ready again`, 15_000);
      await pace(50 + Math.floor(random() * 100));
      // Once every holder has settled (recorded, or retracted), the stream goes on for everyone:
      // a client told to resync at the stream's end learns nothing more until the next event.
      await sleep(1000);
      await pace(10);
      const total = daemon.send();
      await waitFor(
        () => clients.every((client) => client.received.some((frame) => frame.type === 'file-change' && frame.payload.path === `/${total}`)),
        'every client has the last event',
        15_000,
      ).catch(() => undefined);
      for (const [index, client] of clients.entries()) {
        const problems = verdictAfterResync(client.received, total);
        if (problems.length)
          failures.push({
            round,
            client: index,
            problems,
            tail: client.received
              .slice(-6)
              .map((frame) => `${frame.type} ${frame.epoch ?? ''}/${frame.seq ?? ''} ${frame.payload?.path ?? JSON.stringify(frame.payload?.stream ?? '')}`),
          });
      }
    }
    expect({ seed, failures }).toEqual({ seed, failures: [] });
  }, 180_000);
});

describe('Redis comes back: the holder records what it numbered meanwhile at once', () => {
  const prefix = uniquePrefix();
  let redis: DisposableRedis;
  let gateway: GatewayProcess;
  let port: number;
  const peers: TestPeer[] = [];

  beforeAll(async () => {
    redis = await DisposableRedis.start();
    // The sweep that also retries a holder's recovery is a minute away: only Redis's return can start it.
    gateway = GatewayProcess.onRedis(SECRET, redis.url, prefix, { SWEEP_INTERVAL_MS: '60000' });
    port = await gateway.ready();
  });

  afterAll(async () => {
    for (const peer of peers) peer.terminate();
    gateway?.kill('SIGKILL');
    await redis?.stop().catch(() => undefined);
  });

  it('the daemon is acknowledged for the outage’s events within seconds of Redis answering, whichever of its connections is back first', async () => {
    const daemonId = 'd-blip-return';
    const daemon = new TestPeer(`ws://127.0.0.1:${port}/ws?session=s1&token=${signToken(SECRET, { sub: daemonId, role: Role.Daemon })}`);
    peers.push(daemon);
    await daemon.next('connected');
    const event = (seq: number) => ({ type: 'file-change', seq, payload: { workspaceId: 'w1', path: `/${seq}`, event: 'change' } });
    const acknowledged = (seq: number) => daemon.received.some((frame) => frame.type === 'ack' && frame.payload?.seq === seq);
    daemon.send(event(1));
    await waitFor(() => acknowledged(1), 'first event acknowledged');
    for (let round = 0; round < 3; round += 1) {
      await redis.stop({ save: true });
      const last = 1 + (round + 1) * 10;
      for (let seq = last - 9; seq <= last; seq += 1) daemon.send(event(seq));
      await sleep(300);
      await redis.start();
      await waitForAsync(() => gateway.ready().then(() => true), 'gateway ready again', 15_000);
      await waitFor(() => acknowledged(last), `round ${round}: events to ${last} acknowledged`, 5_000);
    }
  }, 60_000);
});
