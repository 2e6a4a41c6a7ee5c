import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freeClusterPorts } from './ports.js';
import { createdOrStopped, waitForPing, waitForReplication } from './redis-processes.js';

/**
 * A Redis Cluster of the test's own: three primaries and three replicas on free ports
 * (`--cluster-enabled yes`, `redis-cli --cluster create … --cluster-replicas 1`).
 */
export class RedisClusterGroup {
  private readonly processes = new Map<number, ChildProcess>();

  private constructor(
    readonly ports: number[],
    private readonly dir: string,
  ) {}

  static async start(): Promise<RedisClusterGroup> {
    const ports = await freeClusterPorts(6);
    const group = new RedisClusterGroup(ports, mkdtempSync(join(tmpdir(), 'arbor-cluster-')));
    return createdOrStopped(group, () => group.create());
  }

  private async create(): Promise<void> {
    const { ports } = this;
    for (const port of ports) this.spawnNode(port);
    await Promise.all(ports.map((port) => waitForPing(port)));
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'], {
      encoding: 'utf8',
    });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    await this.waitForState();
    // A replica still in its first sync cannot be promoted: failover tests need them all synced.
    for (const port of ports) {
      const node = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      try {
        const info = await node.info('replication');
        if (/role:slave/.test(info)) await waitForReplication(port);
      } finally {
        node.disconnect();
      }
    }
  }

  get url(): string {
    return `redis+cluster://${this.ports.map((port) => `127.0.0.1:${port}`).join(',')}`;
  }

  /** The port of the primary serving a key's slot now, asked of a running node other than `avoid`. */
  async primaryOf(key: string, avoid?: number): Promise<number> {
    return this.ask(avoid, async (probe) => {
      const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', key));
      const ranges = (await probe.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
      const range = ranges.find(([first, last]) => slot >= first && slot <= last);
      if (!range) throw new Error(`slot ${slot} is not served`);
      return range[2][1];
    });
  }

  async slotOf(key: string): Promise<number> {
    return this.ask(undefined, async (probe) => Number(await probe.call('CLUSTER', 'KEYSLOT', key)));
  }

  /** SIGKILL of a primary; resolves once its replica serves its slots (cluster-node-timeout 1000). */
  async killPrimary(port: number, key: string): Promise<number> {
    this.processes.get(port)?.kill('SIGKILL');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const now = await this.primaryOf(key, port).catch(() => port);
      if (now !== port) {
        await this.waitForState(port);
        return now;
      }
      if (Date.now() > deadline) throw new Error(`no replica took over from ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Brings a killed node back: it rejoins as a replica of its old slots' new primary. */
  restartNode(port: number): void {
    this.spawnNode(port);
  }

  /**
   * Moves one slot, keys included, from its primary to another (CLUSTER SETSLOT … IMPORTING /
   * MIGRATING, MIGRATE, then SETSLOT … NODE on both and the rest).
   */
  async moveSlot(slot: number, from: number, to: number): Promise<void> {
    const source = new Redis(from, '127.0.0.1', { maxRetriesPerRequest: 1 });
    const target = new Redis(to, '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      const targetId = String(await target.call('CLUSTER', 'MYID'));
      const sourceId = String(await source.call('CLUSTER', 'MYID'));
      await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
      await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
      for (;;) {
        const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
        if (keys.length === 0) break;
        await source.call('MIGRATE', '127.0.0.1', to, '', 0, 5000, 'REPLACE', 'KEYS', ...keys);
      }
      for (const port of this.ports.filter((port) => this.isRunning(port))) {
        const node = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
        try {
          const role = (await node.call('ROLE')) as [string];
          if (role[0] === 'master') await node.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
        } finally {
          node.disconnect();
        }
      }
    } finally {
      source.disconnect();
      target.disconnect();
    }
  }

  async stop(): Promise<void> {
    const running = [...this.processes.values()].filter((child) => child.exitCode === null && child.signalCode === null);
    const exited = running.map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of running) child.kill('SIGKILL');
    await Promise.all(exited);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private isRunning(port: number): boolean {
    const child = this.processes.get(port);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  private spawnNode(port: number): void {
    const args = [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(this.dir, `nodes-${port}.conf`),
      '--cluster-node-timeout',
      '1000',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
    ];
    this.processes.set(port, spawn('redis-server', args, { stdio: 'ignore' }));
  }

  /** One question to a running node other than `avoid`, on a connection of its own. */
  private async ask<T>(avoid: number | undefined, question: (probe: Redis) => Promise<T>): Promise<T> {
    const port = this.ports.find((candidate) => candidate !== avoid && this.isRunning(candidate))!;
    const probe = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      return await question(probe);
    } finally {
      probe.disconnect();
    }
  }

  /** Every running node reports cluster_state:ok. */
  private async waitForState(except?: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (const port of this.ports.filter((candidate) => candidate !== except && this.isRunning(candidate))) {
      const node = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      try {
        while (!/cluster_state:ok/.test(String(await node.call('CLUSTER', 'INFO')))) {
          if (Date.now() > deadline) throw new Error(`cluster not ok on ${port}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        node.disconnect();
      }
    }
  }
}
