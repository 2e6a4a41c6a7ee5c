import { unavailable } from '../errors/domain.error.js';
import type { RedisConnections } from '../redis/redis-connections.js';
import { compareBytes, DaemonDirectory, PRUNE_BATCH, type DirectoryPage, type ViewerCount } from './daemon-directory.js';

/** Viewer counts live a day past their last change: an instance that crashed never decrements its own. */
const VIEWERS_TTL_MS = 86_400_000;

/** Decrements one (instance, user) count, removing it at zero. */
const VIEWER_LEFT = `
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return left`;

/**
 * The known daemons in one sorted set of equal scores (`{daemons}:index`), paged in byte order
 * with ZRANGE BYLEX, so a page never repeats an id; each daemon's viewers in a hash under its own
 * tag (`{d:<id>}:viewers`, field `<instance> <user>`), so watching touches the daemon's slot only.
 */
export class RedisDaemonDirectory extends DaemonDirectory {
  private readonly indexKey: string;
  private pruneFrom: string | undefined;

  constructor(private readonly redis: RedisConnections) {
    super();
    this.indexKey = redis.daemonsIndexKey();
  }

  async recordSeen(daemonId: string): Promise<void> {
    await this.call(() => this.redis.commands.zadd(this.indexKey, 'NX', 0, daemonId));
  }

  async has(daemonId: string): Promise<boolean> {
    return (await this.call(() => this.redis.commands.zscore(this.indexKey, daemonId))) !== null;
  }

  async page({ after, prefix, limit }: { after?: string; prefix?: string; limit: number }): Promise<DirectoryPage> {
    let min = after === undefined ? '-' : `(${after}`;
    if (prefix !== undefined && (after === undefined || compareBytes(after, prefix) < 0)) min = `[${prefix}`;
    // Every id starting with the prefix sorts before the prefix followed by 0xFF (no UTF-8 byte).
    const max = prefix === undefined ? '+' : Buffer.concat([Buffer.from(`(${prefix}`), Buffer.from([0xff])]);
    // One more than asked: whether another page follows.
    const ids = await this.call(() => this.redis.commands.zrangebylex(this.indexKey, min, max, 'LIMIT', 0, limit + 1));
    const more = ids.length > limit;
    const page = more ? ids.slice(0, limit) : ids;
    return { ids: page, last: more ? page[page.length - 1] : null };
  }

  async size(): Promise<number> {
    return this.call(() => this.redis.commands.zcard(this.indexKey));
  }

  async viewerJoined(daemonId: string, userId: string): Promise<void> {
    const key = this.viewersKey(daemonId);
    await this.call(() => this.redis.commands.multi().hincrby(key, this.field(userId), 1).pexpire(key, VIEWERS_TTL_MS).exec());
  }

  async viewerLeft(daemonId: string, userId: string): Promise<void> {
    await this.call(() => this.redis.commands.eval(VIEWER_LEFT, 1, this.viewersKey(daemonId), this.field(userId)));
  }

  async viewers(daemonId: string, liveInstances: ReadonlySet<string>): Promise<ViewerCount[]> {
    const key = this.viewersKey(daemonId);
    const fields = await this.call(() => this.redis.commands.hgetall(key));
    const users = new Map<string, number>();
    const departed: string[] = [];
    for (const [field, count] of Object.entries(fields)) {
      const space = field.indexOf(' ');
      const instance = field.slice(0, space);
      if (!liveInstances.has(instance)) {
        departed.push(field);
        continue;
      }
      const userId = field.slice(space + 1);
      users.set(userId, (users.get(userId) ?? 0) + Number(count));
    }
    // Counts left by instances that are gone: they watch nothing any more.
    if (departed.length > 0) await this.redis.commands.hdel(key, ...departed).catch(() => undefined);
    return [...users].map(([userId, connections]) => ({ userId, connections })).sort((a, b) => a.userId.localeCompare(b.userId));
  }

  async prune(isGone: (daemonIds: string[]) => Promise<boolean[]>): Promise<number> {
    const { ids, last } = await this.page({ after: this.pruneFrom, limit: PRUNE_BATCH });
    this.pruneFrom = last ?? undefined;
    const gone = await isGone(ids);
    const forget = ids.filter((_, index) => gone[index]);
    if (forget.length > 0) await this.call(() => this.redis.commands.zrem(this.indexKey, ...forget));
    return forget.length;
  }

  private viewersKey(daemonId: string): string {
    return this.redis.daemonKey(daemonId, 'viewers');
  }

  /** Instance ids hold no space (hostname-pid-hex), so the first space separates the user. */
  private field(userId: string): string {
    return `${this.redis.instanceId} ${userId}`;
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch {
      throw unavailable();
    }
  }
}
