import { Role } from '@arbor/gateway-client';
import { GatewayProcess } from './support/gateway-process.js';
import { waitFor } from './support/ports.js';
import { prng } from './support/prng.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { TestPeer, type ReceivedFrame } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

const SECRET = 'handover-chaos-secret-at-least-32-chars';
/** Rounds of the fast-reconnect chaos; each picks its own burst size, cut point and delay. */
const ROUNDS = 24;

/**
 * A raw client that keeps every frame it is sent, repeats included, and checks the promise
 * itself: the daemon's events exactly once and in order, with `seq` consecutive within an epoch,
 * or an explicit `resync-required` (which these scenarios, with Redis healthy, must never need).
 */
function verdict(frames: readonly ReceivedFrame[], total: number): string[] {
  const problems: string[] = [];
  const events = frames.filter((frame) => frame.type === 'file-change');
  const indexes = events.map((frame) => Number(String(frame.payload.path).slice(1)));
  const expected = Array.from({ length: total }, (_, i) => i + 1);
  if (JSON.stringify(indexes) !== JSON.stringify(expected)) {
    const repeats = indexes.length - new Set(indexes).size;
    problems.push(`events: ${indexes.length} received, ${repeats} repeated, ${total - new Set(indexes).size} missing`);
  }
  const numbered = frames.filter((frame) => frame.seq !== undefined);
  for (let i = 1; i < numbered.length; i += 1) {
    const [before, after] = [numbered[i - 1], numbered[i]];
    if (after.epoch !== before.epoch) problems.push(`epoch changed at frame ${i}`);
    else if (after.seq !== before.seq! + 1) problems.push(`seq ${before.seq} then ${after.seq}`);
    if (problems.length > 5) break;
  }
  if (frames.some((frame) => frame.type === 'resync-required')) problems.push('resync-required');
  return problems;
}

describe('a daemon reconnecting at once to another instance (two instances on Redis)', () => {
  const prefix = uniquePrefix();
  const processes: GatewayProcess[] = [];
  let ports: number[] = [];
  const token = (claims: Record<string, unknown>) => signToken(SECRET, claims);

  beforeAll(async () => {
    for (let i = 0; i < 2; i += 1) processes.push(GatewayProcess.onRedis(SECRET, SHARED_REDIS_URL, prefix));
    ports = await Promise.all(processes.map((process) => process.ready()));
  });

  afterAll(async () => {
    for (const process of processes) process.kill('SIGKILL');
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  const daemonUrl = (port: number, daemonId: string, session: string) =>
    `ws://127.0.0.1:${port}/ws?session=${session}&token=${token({ sub: daemonId, role: Role.Daemon })}`;
  const clientUrl = (port: number, daemonId: string, user: string) =>
    `ws://127.0.0.1:${port}/ws?daemonId=${daemonId}&token=${token({ sub: user, role: Role.Client, daemons: [daemonId] })}`;

  /** Sends the daemon's events `from`…`to` (its own seq, path `/n`), 256 per turn: a burst the gateway is still reading when the link is cut. */
  async function burst(daemon: TestPeer, from: number, to: number, stopAfter = Infinity): Promise<number> {
    let sent = from - 1;
    while (sent < to && sent - from + 1 < stopAfter) {
      const upTo = Math.min(to, sent + 256, from - 1 + stopAfter);
      for (let n = sent + 1; n <= upTo; n += 1) daemon.send({ type: 'file-change', seq: n, payload: { workspaceId: 'w1', path: `/${n}`, event: 'change' } });
      sent = upTo;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return sent;
  }

  it(`every client on both instances gets every event exactly once, in order (${ROUNDS} rounds, random bursts, cuts and delays in [0, 500) ms; every third round back to the same instance)`, async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const daemonId = `d-chaos-${round}`;
      const total = 500 + Math.floor(random() * 1500);
      const cutAfter = 100 + Math.floor(random() * (total - 200));
      // Half the rounds reconnect within the first few milliseconds, where the race is narrowest.
      const delayMs = Math.floor(random() * (round % 4 < 2 ? 20 : 500));
      const [first, second] = round % 2 === 0 ? [0, 1] : [1, 0];
      const clients = [new TestPeer(clientUrl(ports[first], daemonId, 'user-a')), new TestPeer(clientUrl(ports[second], daemonId, 'user-b'))];
      await Promise.all(clients.map((client) => client.next('connected')));
      const daemon = new TestPeer(daemonUrl(ports[first], daemonId, 'S'));
      await daemon.next('connected');
      await burst(daemon, 1, total, cutAfter);
      daemon.terminate();
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      // Every third round the daemon comes back to the same instance: a takeover between two of its connections there.
      const back = round % 3 === 2 ? first : second;
      const again = new TestPeer(daemonUrl(ports[back], daemonId, 'S'));
      const { lastSeq } = (await again.next('connected')).payload as { lastSeq: number };
      await burst(again, lastSeq + 1, total);
      try {
        await waitFor(
          () => clients.every((client) => client.received.filter((frame) => frame.type === 'file-change').length >= total),
          `${total} events at both clients`,
          5000,
        );
      } catch {
        // Missing events are reported by the verdict below.
      }
      // Repeats arriving late must have their chance to show.
      await new Promise((resolve) => setTimeout(resolve, 100));
      clients.forEach((client, index) => {
        const problems = verdict(client.received, total);
        if (problems.length)
          failures.push(
            `round ${round} (seed ${seed}, ${total} events, cut after ${cutAfter}, delay ${delayMs} ms, lastSeq ${lastSeq}) client ${index}: ${problems.join('; ')}`,
          );
      });
      again.terminate();
      for (const client of clients) client.terminate();
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('an instance the daemon left and came back to delivers nothing twice (A → B → A, clean closes)', async () => {
    const daemonId = 'd-moves';
    const clients = [new TestPeer(clientUrl(ports[0], daemonId, 'user-a')), new TestPeer(clientUrl(ports[1], daemonId, 'user-b'))];
    await Promise.all(clients.map((client) => client.next('connected')));
    let next = 1;
    for (const port of [ports[0], ports[1], ports[0], ports[1]]) {
      const daemon = new TestPeer(daemonUrl(port, daemonId, `period-${next}`));
      await daemon.next('connected');
      // Sessions differ per period: each connection numbers its own events from 1.
      for (let n = 1; n <= 150; n += 1) daemon.send({ type: 'file-change', seq: n, payload: { workspaceId: 'w1', path: `/${next + n - 1}`, event: 'change' } });
      next += 150;
      await waitFor(
        () => clients.every((client) => client.received.filter((frame) => frame.type === 'file-change').length >= next - 1),
        'the period delivered everywhere',
      );
      daemon.close();
      await daemon.closed;
      // The clean close's offline status is part of the stream; let it land before the next period.
      await Promise.all(clients.map((client) => client.next((frame) => frame.type === 'daemon-status' && frame.payload.status === 'offline')));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const client of clients) {
      expect(verdict(client.received, next - 1)).toEqual([]);
      client.terminate();
    }
  });
});
