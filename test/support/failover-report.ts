import { appendFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ReceivedFrame } from './test-peer.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/**
 * Records what a failover test measured (how long cross-instance delivery took to resume, how
 * many resync-required each client got) in test-artifacts/failover-timings.jsonl, for the docs.
 */
export function reportFailover(scenario: string, resumedAfterMs: number, frames: readonly ReceivedFrame[][]): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  const resyncs = frames.map((received) => received.filter((frame) => frame.type === 'resync-required').length);
  appendFileSync(`${ARTIFACTS}failover-timings.jsonl`, JSON.stringify({ at: new Date().toISOString(), scenario, resumedAfterMs, resyncs }) + '\n');
}
