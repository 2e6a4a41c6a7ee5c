/** A small deterministic PRNG for generated test corpora: the same corpus on every run. */
export function prng(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}
