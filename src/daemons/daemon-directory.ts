/** One user watching a daemon, with how many connections. */
export interface ViewerCount {
  userId: string;
  connections: number;
}

export interface DirectoryPage {
  /** Daemon ids in byte order. */
  ids: string[];
  /** The last id looked at, or null at the end: the next page starts after it. */
  last: string | null;
}

/**
 * Every daemon the deployment knows (seen since its history was last dropped), and who watches
 * each one on which instance — the server API's view of the whole deployment, not of one instance.
 */
export abstract class DaemonDirectory {
  /** Records that the daemon exists (it connected). */
  abstract recordSeen(daemonId: string): Promise<void>;
  /** Whether the daemon was ever recorded (and not forgotten). */
  abstract has(daemonId: string): Promise<boolean>;
  /** Up to `limit` ids after `after` (exclusive), only those starting with `prefix` when given. */
  abstract page(options: { after?: string; prefix?: string; limit: number }): Promise<DirectoryPage>;
  /** How many daemons are known. */
  abstract size(): Promise<number>;
  abstract viewerJoined(daemonId: string, userId: string): Promise<void>;
  abstract viewerLeft(daemonId: string, userId: string): Promise<void>;
  /** Users watching the daemon on the given live instances, with their connection counts. */
  abstract viewers(daemonId: string, liveInstances: ReadonlySet<string>): Promise<ViewerCount[]>;
  /**
   * Forgets, in a rolling batch, daemons `isGone` says have neither presence nor history any more;
   * returns how many it forgot.
   */
  abstract prune(isGone: (daemonIds: string[]) => Promise<boolean[]>): Promise<number>;
}

/** Ids looked at per prune. */
export const PRUNE_BATCH = 1000;

/** Sorted ids (binary insertion) and per-daemon viewer counts: one instance. */
export class InMemoryDaemonDirectory extends DaemonDirectory {
  private readonly ids: string[] = [];
  private readonly watching = new Map<string, Map<string, number>>();
  /** Where the next prune starts (the rolling batch). */
  private pruneFrom: string | undefined;

  async recordSeen(daemonId: string): Promise<void> {
    const index = this.indexOf(daemonId);
    if (this.ids[index] !== daemonId) this.ids.splice(index, 0, daemonId);
  }

  async has(daemonId: string): Promise<boolean> {
    return this.ids[this.indexOf(daemonId)] === daemonId;
  }

  async page({ after, prefix, limit }: { after?: string; prefix?: string; limit: number }): Promise<DirectoryPage> {
    let start = after === undefined ? 0 : this.indexOf(after);
    if (after !== undefined && this.ids[start] === after) start += 1;
    if (prefix !== undefined) start = Math.max(start, this.indexOf(prefix));
    const ids: string[] = [];
    for (let index = start; index < this.ids.length && ids.length < limit; index += 1) {
      const id = this.ids[index];
      if (prefix !== undefined && !id.startsWith(prefix)) break;
      ids.push(id);
    }
    const next = this.ids[start + ids.length];
    const more = ids.length === limit && next !== undefined && (prefix === undefined || next.startsWith(prefix));
    return { ids, last: more ? ids[ids.length - 1] : null };
  }

  async size(): Promise<number> {
    return this.ids.length;
  }

  async viewerJoined(daemonId: string, userId: string): Promise<void> {
    let users = this.watching.get(daemonId);
    if (!users) this.watching.set(daemonId, (users = new Map<string, number>()));
    users.set(userId, (users.get(userId) ?? 0) + 1);
  }

  async viewerLeft(daemonId: string, userId: string): Promise<void> {
    const users = this.watching.get(daemonId);
    const count = users?.get(userId);
    if (!users || count === undefined) return;
    if (count > 1) users.set(userId, count - 1);
    else users.delete(userId);
    if (users.size === 0) this.watching.delete(daemonId);
  }

  async viewers(daemonId: string): Promise<ViewerCount[]> {
    return [...(this.watching.get(daemonId) ?? [])].map(([userId, connections]) => ({ userId, connections })).sort((a, b) => a.userId.localeCompare(b.userId));
  }

  async prune(isGone: (daemonIds: string[]) => Promise<boolean[]>): Promise<number> {
    const { ids, last } = await this.page({ after: this.pruneFrom, limit: PRUNE_BATCH });
    this.pruneFrom = last ?? undefined;
    const gone = await isGone(ids);
    const forget = ids.filter((id, index) => gone[index] && !this.watching.has(id));
    for (const id of forget) {
      const index = this.indexOf(id);
      if (this.ids[index] === id) this.ids.splice(index, 1);
    }
    return forget.length;
  }

  /** Where `id` is or would be inserted (byte order, as Redis sorts). */
  private indexOf(id: string): number {
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareBytes(this.ids[middle], id) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** Byte order of UTF-8 strings, as Redis compares members. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
