import { DaemonDirectory, InMemoryDaemonDirectory } from '../src/daemons/daemon-directory.js';
import { RedisDaemonDirectory } from '../src/daemons/redis-daemon-directory.js';
import { RedisConnections } from '../src/redis/redis-connections.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';

/** The same contract in memory and in Redis: pages in byte order, never an id twice, prefixes, pruning. */
describe.each([
  ['in memory', async () => ({ directory: new InMemoryDaemonDirectory(), close: async () => {} })],
  [
    'redis',
    async () => {
      const prefix = uniquePrefix();
      const redis = await RedisConnections.create(SHARED_REDIS_URL, prefix);
      await redis.whenReady(5000);
      return {
        directory: new RedisDaemonDirectory(redis),
        close: async () => {
          await redis.onModuleDestroy();
          await deletePrefix(SHARED_REDIS_URL, prefix);
        },
      };
    },
  ],
])('daemon directory (%s)', (_name, create) => {
  let directory: DaemonDirectory;
  let close: () => Promise<void>;
  // Byte order puts upper case before lower case, and "é" (0xC3 0xA9) after every ASCII id.
  const ids = ['b-2', 'a-1', 'a-10', 'A-0', 'a-2', 'é-1', 'a-1', 'b-1'];
  const sorted = ['A-0', 'a-1', 'a-10', 'a-2', 'b-1', 'b-2', 'é-1'];

  beforeAll(async () => {
    ({ directory, close } = await create());
    for (const id of ids) await directory.recordSeen(id);
  });

  afterAll(() => close());

  it('pages every id once, in byte order', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await directory.page({ after, limit: 3 });
      seen.push(...page.ids);
      if (page.last === null) break;
      after = page.last;
    }
    expect(seen).toEqual(sorted);
    expect(await directory.size()).toBe(7);
    expect(await directory.has('a-10')).toBe(true);
    expect(await directory.has('a-3')).toBe(false);
  });

  it('pages within a prefix, and says when it ends', async () => {
    expect(await directory.page({ prefix: 'a-', limit: 2 })).toEqual({ ids: ['a-1', 'a-10'], last: 'a-10' });
    expect(await directory.page({ prefix: 'a-', after: 'a-10', limit: 2 })).toEqual({ ids: ['a-2'], last: null });
    expect(await directory.page({ prefix: 'a-', limit: 3 })).toEqual({ ids: ['a-1', 'a-10', 'a-2'], last: null });
    expect(await directory.page({ prefix: 'é', limit: 5 })).toEqual({ ids: ['é-1'], last: null });
    expect(await directory.page({ prefix: 'z', limit: 5 })).toEqual({ ids: [], last: null });
  });

  it('counts viewers per user', async () => {
    await directory.viewerJoined('a-1', 'u1');
    await directory.viewerJoined('a-1', 'u1');
    await directory.viewerJoined('a-1', 'u2');
    await directory.viewerLeft('a-1', 'u1');
    const live = new Set([(directory as unknown as { redis?: RedisConnections }).redis?.instanceId ?? '']);
    expect(await directory.viewers('a-1', live)).toEqual([
      { userId: 'u1', connections: 1 },
      { userId: 'u2', connections: 1 },
    ]);
    await directory.viewerLeft('a-1', 'u1');
    await directory.viewerLeft('a-1', 'u2');
    expect(await directory.viewers('a-1', live)).toEqual([]);
  });

  it('prunes the ids found gone, a batch at a time', async () => {
    const forgotten = await directory.prune(async (batch) => batch.map((id) => id.startsWith('b-')));
    expect(forgotten).toBe(2);
    expect((await directory.page({ limit: 100 })).ids).toEqual(['A-0', 'a-1', 'a-10', 'a-2', 'é-1']);
  });
});
