export interface BackoffOptions {
  /** Base delay, ms. */
  minDelay: number;
  /** Growth per attempt. */
  factor: number;
  /** Ceiling, ms. */
  maxDelay: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { minDelay: 500, factor: 2, maxDelay: 30_000 };

/**
 * Full-jitter backoff: a uniformly random delay in [0, min(maxDelay, minDelay × factor^attempt)).
 * Spreads a crowd of reconnecting clients evenly instead of in synchronized waves.
 * `attempt` counts from 0; `random` returns [0, 1) like Math.random.
 */
export function fullJitterDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelay, options.minDelay * Math.pow(options.factor, Math.max(0, attempt)));
  return Math.floor(random() * ceiling);
}
