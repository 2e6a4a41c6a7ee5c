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

/**
 * Checks a raw client's frames (repeats kept) against the weakest promise: the daemon's events
 * `/1`…`/total` in order with `seq` consecutive in one epoch, except that after a
 * `resync-required` (the client starts over from a fresh snapshot) the next event may be any.
 * The last event is `/total`.
 */
export function verdictAfterResync(frames: readonly ReceivedFrame[], total: number): string[] {
  const problems: string[] = [];
  let expected = 1;
  let last: ReceivedFrame | undefined;
  let resynced = false;
  for (const frame of frames) {
    if (frame.type === 'resync-required') resynced = true;
    if (frame.seq === undefined) continue;
    if (last && !resynced && (frame.epoch !== last.epoch || frame.seq !== last.seq! + 1))
      problems.push(`${last.epoch}/${last.seq} then ${frame.epoch}/${frame.seq} without resync-required`);
    last = frame;
    if (frame.type !== 'file-change') continue;
    const index = Number(String(frame.payload.path).slice(1));
    if (index !== expected && !resynced) problems.push(`event ${index} where ${expected} was due, without resync-required`);
    expected = index + 1;
    resynced = false;
    if (problems.length > 5) break;
  }
  if (expected !== total + 1) problems.push(`last event ${expected - 1} of ${total}`);
  return problems;
}
