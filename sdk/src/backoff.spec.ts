import { DEFAULT_BACKOFF, fullJitterDelay } from './backoff.js';

describe('fullJitterDelay', () => {
  it('stays within [0, min(maxDelay, minDelay × factor^attempt))', () => {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const ceiling = Math.min(30_000, 500 * 2 ** attempt);
      expect(fullJitterDelay(attempt, DEFAULT_BACKOFF, () => 0)).toBe(0);
      const top = fullJitterDelay(attempt, DEFAULT_BACKOFF, () => 0.999999);
      expect(top).toBeLessThan(ceiling);
      expect(top).toBeGreaterThanOrEqual(ceiling - 1);
    }
  });

  it('uses the documented defaults: 500 ms, ×2, capped at 30 s', () => {
    expect(DEFAULT_BACKOFF).toEqual({ minDelay: 500, factor: 2, maxDelay: 30_000 });
    expect(fullJitterDelay(0, DEFAULT_BACKOFF, () => 0.5)).toBe(250);
    expect(fullJitterDelay(3, DEFAULT_BACKOFF, () => 0.5)).toBe(2000);
    expect(fullJitterDelay(50, DEFAULT_BACKOFF, () => 0.5)).toBe(15_000);
  });

  it('spreads delays uniformly over the window', () => {
    const samples = Array.from({ length: 20_000 }, () => fullJitterDelay(4, DEFAULT_BACKOFF));
    const ceiling = 8000;
    const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
    expect(mean).toBeGreaterThan(ceiling * 0.46);
    expect(mean).toBeLessThan(ceiling * 0.54);
    // Every quarter of the window gets roughly a quarter of the samples.
    for (let quarter = 0; quarter < 4; quarter += 1) {
      const share = samples.filter((value) => Math.floor(value / (ceiling / 4)) === quarter).length / samples.length;
      expect(share).toBeGreaterThan(0.22);
      expect(share).toBeLessThan(0.28);
    }
  });

  it('treats a negative attempt as the first', () => {
    expect(fullJitterDelay(-3, DEFAULT_BACKOFF, () => 0.5)).toBe(250);
  });
});
