import type { RateLimit } from '../config/gateway-config.js';

/**
 * A token bucket refilled continuously: `rate` tokens a second, at most `burst` saved up.
 * Time comes from the caller so tests and callers share one clock reading per frame.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    protected readonly limit: RateLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.updatedAt = now;
  }

  /** Takes a token if there is one: 0. Otherwise takes nothing and returns the ms until there is one. */
  tryTake(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.limit.rate);
  }

  /** Takes a token even into debt; returns the ms until the balance is positive again (0: no debt). */
  take(now: number): number {
    this.refill(now);
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.limit.rate);
  }

  /** Full again: an idle bucket can be forgotten. */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.limit.burst;
  }

  private refill(now: number): void {
    const elapsed = now - this.updatedAt;
    if (elapsed <= 0) return;
    this.tokens = Math.min(this.limit.burst, this.tokens + (elapsed * this.limit.rate) / 1000);
    this.updatedAt = now;
  }
}

/** One bucket per key (an address, a user, an API key id); buckets idle long enough to be full again are forgotten. */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();
  private lastSweep: number;

  constructor(
    private readonly limit: RateLimit,
    now: number,
    private readonly sweepEveryMs = 60_000,
  ) {
    this.lastSweep = now;
  }

  /** Takes a token from `key`'s bucket: 0, or the ms until one is there (nothing taken). */
  tryTake(key: string, now: number): number {
    if (now - this.lastSweep > this.sweepEveryMs) {
      this.lastSweep = now;
      for (const [id, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(id);
    }
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new TokenBucket(this.limit, now)));
    return bucket.tryTake(now);
  }
}
