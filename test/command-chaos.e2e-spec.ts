import { Role } from '@arbor/gateway-client';
import WebSocket from 'ws';
import { GatewayProcess } from './support/gateway-process.js';
import { waitFor } from './support/ports.js';
import { prng } from './support/prng.js';
import { deletePrefix, RedisClusterGroup, SentinelGroup, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { signToken } from './support/tokens.js';

const SECRET = 'command-chaos-secret-at-least-32-chars';
/** Long enough that every accepted command is confirmed once the daemon is back for good; short enough that a status lost with a killed instance is recovered (at expiry) within the wait. */
const COMMAND_TTL_MS = '10000';

/** What the daemon received: every command frame, repeats included, on which connection and when. */
interface Receipt {
  id: string;
  type: string;
  taskId: string;
  connection: number;
  at: number;
}

/**
 * A raw daemon that keeps every command it is sent, repeats included (it drops nothing), and
 * confirms each one on the connection it came on, as a daemon in any language would.
 */
class RecordingDaemon {
  readonly receipts: Receipt[] = [];
  private socket: WebSocket | undefined;
  private connections = 0;

  constructor(
    private readonly daemonId: string,
    private readonly token: string,
  ) {}

  /** Connects to `port` and resolves once `connected` arrived (or the attempt failed). */
  connect(port: number): Promise<void> {
    const connection = ++this.connections;
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${this.token}`);
    this.socket = socket;
    socket.on('error', () => undefined);
    return new Promise((resolve) => {
      // Never wait forever: an attempt that hangs counts as failed, and the next cut moves on.
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, 10_000);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.on('message', (data) => {
        const frame = JSON.parse((data as Buffer).toString('utf8')) as { type: string; id?: string; payload?: { taskId?: string } };
        if (frame.type === 'connected') {
          clearTimeout(timer);
          resolve();
        }
        if (frame.type !== 'run-task' && frame.type !== 'cancel-task') return;
        if (socket !== this.socket) return;
        this.receipts.push({ id: frame.id!, type: frame.type, taskId: frame.payload!.taskId!, connection, at: performance.now() });
        socket.send(JSON.stringify({ type: 'command-ack', payload: { id: frame.id } }));
      });
    });
  }

  /** Cuts the link without a close frame. */
  cut(): void {
    this.socket?.terminate();
    this.socket = undefined;
  }
}

interface Sent {
  id: string;
  type: 'run-task' | 'cancel-task';
  taskId: string;
  ack?: string;
  statuses: Array<{ status: string; at: number }>;
}

/** A client sending commands one after another, with ids, and keeping every answer. */
class CommandSender {
  readonly sent = new Map<string, Sent>();
  private readonly socket: WebSocket;
  private readonly opened: Promise<void>;
  private readonly waiting = new Map<string, (status: string) => void>();

  constructor(port: number, daemonId: string, token: string) {
    this.socket = new WebSocket(`ws://127.0.0.1:${port}/ws?daemonId=${daemonId}&token=${token}`);
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('close', () => reject(new Error('the sender could not connect')));
    });
    this.socket.on('error', () => undefined);
    this.socket.on('message', (data) => {
      const frame = JSON.parse((data as Buffer).toString('utf8')) as { type: string; id?: string; payload?: { status?: string } };
      const sent = frame.id === undefined ? undefined : this.sent.get(frame.id);
      if (!sent) return;
      if (frame.type === 'ack') {
        sent.ack = frame.payload!.status;
        this.waiting.get(sent.id)?.(sent.ack!);
      } else if (frame.type === 'command-status') {
        sent.statuses.push({ status: frame.payload!.status!, at: performance.now() });
      } else if (frame.type === 'error') {
        sent.ack = `error:${JSON.stringify(frame.payload)}`;
        this.waiting.get(sent.id)?.(sent.ack);
      }
    });
  }

  async send(type: Sent['type'], id: string, taskId: string): Promise<string> {
    await this.opened;
    const sent: Sent = { id, type, taskId, statuses: [] };
    this.sent.set(id, sent);
    const payload = type === 'run-task' ? { taskId, workspaceId: 'w1', command: 'build' } : { taskId };
    const answered = new Promise<string>((resolve) => this.waiting.set(id, resolve));
    this.socket.send(JSON.stringify({ type, id, payload }));
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([answered, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('no answer'), 5000)))]);
    clearTimeout(timer);
    this.waiting.delete(id);
    return status;
  }

  close(): void {
    this.socket.terminate();
  }
}

/**
 * The promise, checked per id: every `accepted` command reached the daemon and got exactly one
 * status (delivered, or expired); a `delivered` command never reached the daemon again after its
 * sender was told; a `daemon_offline` one never reached it; a cancel-task never overtook the
 * run-task accepted before it.
 */
function verdict(sender: CommandSender, daemon: RecordingDaemon): string[] {
  const problems: string[] = [];
  const receipts = new Map<string, Receipt[]>();
  for (const receipt of daemon.receipts) receipts.set(receipt.id, [...(receipts.get(receipt.id) ?? []), receipt]);
  for (const sent of sender.sent.values()) {
    const got = receipts.get(sent.id) ?? [];
    if (sent.ack === 'daemon_offline' && got.length > 0) problems.push(`${sent.id}: daemon_offline but reached the daemon`);
    if (sent.ack !== 'accepted') continue;
    if (sent.statuses.length !== 1) {
      const where = got.map((receipt) => `connection ${receipt.connection}`).join(', ') || 'never';
      problems.push(`${sent.id}: ${sent.statuses.length} statuses (${sent.statuses.map((entry) => entry.status).join(', ')}); reached the daemon: ${where}`);
    }
    const status = sent.statuses[0];
    if (status?.status === 'delivered' && got.length === 0) problems.push(`${sent.id}: delivered but never reached the daemon`);
    if (status?.status === 'delivered' && got.some((receipt) => receipt.at > status.at)) problems.push(`${sent.id}: sent again after it was delivered`);
    if (status?.status === 'expired') problems.push(`${sent.id}: expired although the daemon came back`);
  }
  for (const cancel of daemon.receipts.filter((receipt) => receipt.type === 'cancel-task')) {
    const run = daemon.receipts.find((receipt) => receipt.type === 'run-task' && receipt.taskId === cancel.taskId);
    if (!run || run.connection > cancel.connection || (run.connection === cancel.connection && run.at > cancel.at)) {
      problems.push(`${cancel.id}: cancel-task reached the daemon before its run-task`);
    }
  }
  return problems.slice(0, 10);
}

interface Deployment {
  /** Ports of the instances the daemon moves between (all but the sender's when there are several). */
  daemonPorts(): number[];
  senderPort(): number;
  /** SIGKILLs the instance on `port` and starts another in its place; undefined where a crash loses everything by design (in memory). */
  crash?(port: number): Promise<void>;
}

/** One round: a sender on its instance, a daemon cut and moved (and its instance killed) at random, then back for good. */
async function round(
  deployment: Deployment,
  random: () => number,
  name: string,
  cuts: number,
): Promise<{ problems: string[]; accepted: number; offline: number; crashes: number }> {
  const daemonId = `cmd-${name}`;
  const daemon = new RecordingDaemon(daemonId, signToken(SECRET, { sub: daemonId, role: Role.Daemon }));
  const sender = new CommandSender(deployment.senderPort(), daemonId, signToken(SECRET, { sub: 'user-1', role: Role.Client, daemons: [daemonId] }));
  let holder = deployment.daemonPorts()[0];
  await daemon.connect(holder);
  let sending = true;
  let crashes = 0;
  const commands = (async () => {
    for (let i = 0; sending; i += 1) {
      const answer = await sender.send('run-task', `${name}-run-${i}`, `t${i}`);
      if (answer === 'accepted' && i % 4 === 0) await sender.send('cancel-task', `${name}-cancel-${i}`, `t${i}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  for (let cut = 0; cut < cuts; cut += 1) {
    if (process.env.CHAOS_DEBUG) console.log(name, 'cut', cut, 'sent', sender.sent.size, 'received', daemon.receipts.length);
    await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 500)));
    if (deployment.crash && cut % 4 === 2) {
      crashes += 1;
      daemon.cut();
      await deployment.crash(holder);
    } else {
      daemon.cut();
    }
    await new Promise((resolve) => setTimeout(resolve, [0, 30, 200][Math.floor(random() * 3)]));
    const ports = deployment.daemonPorts();
    holder = ports[(ports.indexOf(holder) + 1) % ports.length] ?? ports[0];
    await daemon.connect(holder);
  }
  sending = false;
  await commands;
  const accepted = [...sender.sent.values()].filter((sent) => sent.ack === 'accepted');
  await waitFor(() => accepted.every((sent) => sent.statuses.length > 0), `a status for each of ${accepted.length} accepted commands`, 20_000).catch(
    () => undefined,
  );
  // Any second status, or a late repeat, would show up now.
  await new Promise((resolve) => setTimeout(resolve, 300));
  sender.close();
  daemon.cut();
  const offline = [...sender.sent.values()].filter((sent) => sent.ack === 'daemon_offline').length;
  return { problems: verdict(sender, daemon), accepted: accepted.length, offline, crashes };
}

/** Three instances on one Redis: the sender on the first, the daemon moving between the other two, the holder SIGKILLed now and then. */
async function onRedis(redisUrl: string, rounds: number, cuts: number, label: string): Promise<void> {
  const prefix = uniquePrefix();
  /** Every process started, so that a failed start or wait still stops them all. */
  const started: GatewayProcess[] = [];
  const start = async () => {
    const instance = GatewayProcess.onRedis(SECRET, redisUrl, prefix, { COMMAND_TTL_MS });
    started.push(instance);
    return { instance, port: await instance.ready(45_000) };
  };
  try {
    await chaosOn(await Promise.all([start(), start(), start()]), start, label, rounds, cuts);
  } finally {
    for (const instance of started) instance.kill('SIGKILL');
    await deletePrefix(redisUrl, prefix).catch(() => undefined);
  }
}

type Started = { instance: GatewayProcess; port: number };

async function chaosOn(instances: Started[], start: () => Promise<Started>, label: string, rounds: number, cuts: number): Promise<void> {
  const deployment: Deployment = {
    senderPort: () => instances[0].port,
    daemonPorts: () => instances.slice(1).map((entry) => entry.port),
    crash: async (port) => {
      const index = instances.findIndex((entry) => entry.port === port);
      instances[index].instance.kill('SIGKILL');
      await instances[index].instance.exited;
      instances[index] = await start();
    },
  };
  const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
  const random = prng(seed);
  const failures: string[] = [];
  let accepted = 0;
  let crashes = 0;
  for (let r = 0; r < rounds; r += 1) {
    const result = await round(deployment, random, `${label}-${r}`, cuts);
    accepted += result.accepted;
    crashes += result.crashes;
    failures.push(...result.problems.map((problem) => `round ${r}: ${problem}`));
  }
  expect({ seed, failures }).toEqual({ seed, failures: [] });
  // The scenario really ran: commands were accepted across moves and crashes.
  expect(accepted).toBeGreaterThan(rounds * 20);
  expect(crashes).toBeGreaterThan(0);
}

describe('commands exactly once, or the sender is told (raw daemons that keep repeats; random cuts in [0, 500) ms)', () => {
  let sentinels: SentinelGroup | undefined;
  let cluster: RedisClusterGroup | undefined;

  afterAll(async () => {
    await sentinels?.stop();
    await cluster?.stop();
  });

  it('three instances on Redis: moves, cuts and SIGKILLs of the holding instance (4 rounds)', async () => {
    await onRedis(SHARED_REDIS_URL, 4, 8, 'redis');
  }, 240_000);

  it('in memory: one instance, cuts and reconnects (4 rounds)', async () => {
    const instance = new GatewayProcess({ WEBSOCKET_PORT: '0', HOST: '127.0.0.1', JWT_SECRET: SECRET, LOG_LEVEL: 'info', COMMAND_TTL_MS });
    const port = await instance.ready();
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    try {
      const failures: string[] = [];
      let accepted = 0;
      for (let r = 0; r < 4; r += 1) {
        const result = await round({ senderPort: () => port, daemonPorts: () => [port] }, random, `memory-${r}`, 8);
        accepted += result.accepted;
        failures.push(...result.problems.map((problem) => `round ${r}: ${problem}`));
      }
      expect({ seed, failures }).toEqual({ seed, failures: [] });
      expect(accepted).toBeGreaterThan(80);
    } finally {
      instance.kill('SIGKILL');
    }
  }, 240_000);

  it('three instances on Redis Sentinel (2 rounds)', async () => {
    sentinels = await SentinelGroup.start();
    await onRedis(sentinels.url, 2, 6, 'sentinel');
  }, 240_000);

  it('three instances on a Redis Cluster (2 rounds)', async () => {
    cluster = await RedisClusterGroup.start();
    await onRedis(cluster.url, 2, 6, 'cluster');
  }, 240_000);
});
