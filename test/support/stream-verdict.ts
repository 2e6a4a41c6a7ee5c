import type { ReceivedFrame } from './test-peer.js';

/**
 * Checks a raw client's frames (repeats kept): the daemon's events `/1`…`/total` strictly in order
 * with no repeat; `seq` consecutive within an epoch; and a gap or a new epoch only where the
 * gateway said `resync-required` first.
 */
export function verdictWithResync(frames: readonly ReceivedFrame[], total: number): string[] {
  const problems: string[] = [];
  let lastIndex = 0;
  let last: ReceivedFrame | undefined;
  let resyncPending = false;
  for (const frame of frames) {
    if (frame.type === 'resync-required') resyncPending = true;
    if (frame.seq !== undefined && last !== undefined) {
      const continues = frame.epoch === last.epoch && frame.seq === last.seq! + 1;
      if (!continues && !resyncPending) problems.push(`${last.epoch}/${last.seq} then ${frame.epoch}/${frame.seq} without resync-required`);
    }
    if (frame.type === 'file-change') {
      const index = Number(String(frame.payload.path).slice(1));
      if (index <= lastIndex) problems.push(`event ${index} after ${lastIndex}`);
      else if (index !== lastIndex + 1 && !resyncPending) problems.push(`events ${lastIndex + 1}…${index - 1} missing without resync-required`);
      lastIndex = Math.max(lastIndex, index);
    }
    if (frame.seq !== undefined) {
      last = frame;
      if (frame.type === 'file-change') resyncPending = false;
    }
    if (problems.length > 5) break;
  }
  if (lastIndex !== total) problems.push(`last event ${lastIndex} of ${total}`);
  return problems;
}
