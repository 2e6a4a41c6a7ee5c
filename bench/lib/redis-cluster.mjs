// A throwaway Redis Cluster for scenario (E): three primaries and three replicas on free ports,
// no persistence, removed when the run ends.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freeClusterPorts } from './ports.mjs';
import { sleep } from './common.mjs';

export async function startRedisCluster() {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-bench-cluster-'));
  const ports = await freeClusterPorts(6);
  const children = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    ),
  );
  for (const port of ports) await until(async () => (await ask(port, (redis) => redis.ping())) === 'PONG', `redis-server on ${port}`);
  const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'], {
    encoding: 'utf8',
  });
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  for (const port of ports)
    await until(async () => /cluster_state:ok/.test(await ask(port, (redis) => redis.call('CLUSTER', 'INFO'))), `cluster state on ${port}`);
  return {
    url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    /** Bytes Redis holds under a key prefix, summed over the primaries (MEMORY USAGE of every key). */
    async memoryUnder(prefix) {
      let bytes = 0;
      let keys = 0;
      let streamEntries = 0;
      for (const port of ports) {
        await ask(port, async (redis) => {
          if ((await redis.call('ROLE'))[0] !== 'master') return;
          let cursor = '0';
          do {
            const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
            for (const key of found) {
              bytes += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
              keys += 1;
              if (key.endsWith(':stream')) streamEntries += Number(await redis.xlen(key));
            }
            cursor = next;
          } while (cursor !== '0');
        });
      }
      return { bytes, keys, streamEntries };
    },
    async stop() {
      const exited = children.map((child) => new Promise((resolve) => child.once('exit', resolve)));
      for (const child of children) child.kill('SIGKILL');
      await Promise.all(exited);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function ask(port, question) {
  const redis = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // A node still starting refuses the connection: connect() rejects with it, asked again later.
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await question(redis);
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

async function until(condition, label) {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await sleep(100);
  }
}
