import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { parseRedisUrl, RedisTopologyKind } from '../../src/config/redis-address.js';
import { freePort } from './ports.js';
import { createdOrStopped, waitForPing, waitForReplication } from './redis-processes.js';

export { RedisClusterGroup } from './redis-cluster.js';

export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test run uses. */
export function uniquePrefix(): string {
  return `arbor-test:${Date.now().toString(36)}-${randomBytes(4).toString('hex')}:`;
}

/** A plain client for a test's own reads and clean-up, for a one-server or a Sentinel address. */
function clientFor(url: string, options: RedisOptions): Redis {
  const topology = parseRedisUrl(url);
  if (topology.kind === RedisTopologyKind.Sentinel) return new Redis({ ...options, sentinels: topology.sentinels, name: topology.name });
  return new Redis(url, options);
}

/** Deletes every key under a prefix (SCAN, never KEYS), on every primary of a Cluster. */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  const topology = parseRedisUrl(url);
  if (topology.kind === RedisTopologyKind.Cluster) {
    // Each primary on its own: the group may already be gone, and clean-up must not hang on it.
    await Promise.all(
      topology.nodes.map(({ host, port }) =>
        deleteOn(new Redis(port, host, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null }), prefix),
      ),
    );
    return;
  }
  await deleteOn(clientFor(url, { lazyConnect: true, maxRetriesPerRequest: 1 }), prefix);
}

async function deleteOn(client: Redis, prefix: string): Promise<void> {
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      // One key per DEL: on a Cluster node, keys of different slots cannot share a command.
      for (const key of keys) await client.del(key);
      cursor = next;
    } while (cursor !== '0');
  } catch {
    // A node that is gone (a test killed it) holds nothing to clean.
  } finally {
    client.disconnect();
  }
}

/** A redis-server of the test's own, on a free port, that the test may stop and restart. */
export class DisposableRedis {
  private process: ChildProcess | undefined;
  /** Where `stop({ save: true })` leaves the data a restart loads. */
  private readonly dir = mkdtempSync(join(tmpdir(), 'arbor-redis-'));

  private constructor(readonly port: number) {}

  static async start(port?: number): Promise<DisposableRedis> {
    const redis = new DisposableRedis(port ?? (await freePort()));
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--bind', '127.0.0.1', '--port', String(this.port), '--save', '', '--appendonly', 'no', '--dir', this.dir];
    this.process = spawn('redis-server', args, { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        if (Date.now() > deadline) throw new Error(`redis-server did not start on ${this.port}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /**
   * `SHUTDOWN NOSAVE`: Redis goes away and comes back empty. With `save`, `SHUTDOWN SAVE`: it
   * comes back with every key it had (a restart, a blip), those whose TTL ran out meanwhile aside.
   */
  async stop({ save = false } = {}): Promise<void> {
    const exited = new Promise((resolve) => this.process?.once('exit', resolve));
    const client = new Redis(this.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    await client.call('SHUTDOWN', save ? 'SAVE' : 'NOSAVE').catch(() => undefined);
    client.disconnect();
    await exited;
    if (!save) rmSync(join(this.dir, 'dump.rdb'), { force: true });
  }
}

/** How quickly the test sentinels call a silent primary down and fail over (production uses seconds more). */
const SENTINEL_DOWN_AFTER_MS = 1000;

/**
 * One primary, one replica and three sentinels (quorum 2), each a process of the test's own on a
 * free port, for `redis+sentinel://` and failovers.
 */
export class SentinelGroup {
  readonly masterName = 'arbor-test';
  private readonly processes = new Map<number, ChildProcess>();

  private constructor(
    readonly dataPorts: number[],
    readonly sentinelPorts: number[],
    private readonly dir: string,
  ) {}

  static async start(): Promise<SentinelGroup> {
    const dataPorts = [await freePort(), await freePort()];
    const sentinelPorts = [await freePort(), await freePort(), await freePort()];
    const group = new SentinelGroup(dataPorts, sentinelPorts, mkdtempSync(join(tmpdir(), 'arbor-sentinel-')));
    return createdOrStopped(group, () => group.create());
  }

  private async create(): Promise<void> {
    const { dataPorts, sentinelPorts } = this;
    this.spawnData(dataPorts[0]);
    this.spawnData(dataPorts[1], dataPorts[0]);
    await Promise.all(dataPorts.map((port) => waitForPing(port)));
    await waitForReplication(dataPorts[1]);
    for (const port of sentinelPorts) this.spawnSentinel(port);
    await Promise.all(sentinelPorts.map((port) => waitForPing(port)));
    await this.waitForSentinelsToAgree();
  }

  get url(): string {
    return `redis+sentinel://${this.sentinelPorts.map((port) => `127.0.0.1:${port}`).join(',')}/?name=${this.masterName}`;
  }

  /** The port of the data node the sentinels call primary now. */
  async primaryPort(): Promise<number> {
    const sentinel = new Redis(this.sentinelPorts[0], '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      const [, port] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', this.masterName)) as [string, string];
      return Number(port);
    } finally {
      sentinel.disconnect();
    }
  }

  /** `SENTINEL FAILOVER`: a planned promotion of the replica; resolves once the sentinels name it primary. */
  async failover(): Promise<number> {
    const before = await this.primaryPort();
    const sentinel = new Redis(this.sentinelPorts[0], '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      await sentinel.call('SENTINEL', 'FAILOVER', this.masterName);
    } finally {
      sentinel.disconnect();
    }
    return this.waitForPrimaryOtherThan(before);
  }

  /** SIGKILL of the primary: the sentinels notice after down-after-milliseconds and promote the replica. */
  async killPrimary(): Promise<{ killed: number; promoted: number }> {
    const killed = await this.primaryPort();
    this.processes.get(killed)?.kill('SIGKILL');
    return { killed, promoted: await this.waitForPrimaryOtherThan(killed) };
  }

  /** Brings a killed data node back; the sentinels reconfigure it as a replica of the new primary. */
  restartData(port: number): void {
    this.spawnData(port);
  }

  async stop(): Promise<void> {
    const running = [...this.processes.values()].filter((child) => child.exitCode === null && child.signalCode === null);
    const exited = running.map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of running) child.kill('SIGKILL');
    await Promise.all(exited);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private spawnData(port: number, replicaOf?: number): void {
    const args = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', this.dir];
    if (replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(replicaOf));
    this.processes.set(port, spawn('redis-server', args, { stdio: 'ignore' }));
  }

  private spawnSentinel(port: number): void {
    const file = join(this.dir, `sentinel-${port}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `sentinel monitor ${this.masterName} 127.0.0.1 ${this.dataPorts[0]} 2`,
        `sentinel down-after-milliseconds ${this.masterName} ${SENTINEL_DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${this.masterName} 10000`,
        `sentinel parallel-syncs ${this.masterName} 1`,
        '',
      ].join('\n'),
    );
    this.processes.set(port, spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' }));
  }

  /** Every sentinel knows the replica and the other sentinels: a failover can be voted. */
  private async waitForSentinelsToAgree(): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (const port of this.sentinelPorts) {
      const sentinel = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      try {
        for (;;) {
          const master = (await sentinel.call('SENTINEL', 'master', this.masterName)) as string[];
          const field = (name: string) => Number(master[master.indexOf(name) + 1]);
          if (field('num-slaves') >= 1 && field('num-other-sentinels') >= this.sentinelPorts.length - 1) break;
          if (Date.now() > deadline) throw new Error('the sentinels did not discover each other and the replica');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        sentinel.disconnect();
      }
    }
  }

  private async waitForPrimaryOtherThan(port: number): Promise<number> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const now = await this.primaryPort().catch(() => port);
      if (now !== port) return now;
      if (Date.now() > deadline) throw new Error(`no failover away from ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
