import type { Socket } from 'node:net';

/** A socket whose writes are batched, with the batch in progress. */
export interface CorkedSocket {
  readonly raw: Socket;
  corkedFrames: number;
  corkedBytes: number;
}

export interface CoalescingLimits {
  /** A batch is written once it holds this many frames ... */
  maxFrames: number;
  /** ... or this many bytes, whichever comes first. */
  maxBytes: number;
}

export const DEFAULT_COALESCING: CoalescingLimits = { maxFrames: 32, maxBytes: 64 * 1024 };

/**
 * Frames written to one socket within one event-loop turn leave in as few writes as possible: the
 * socket is corked at its first frame and uncorked when the batch is full or, at the latest, at
 * the end of the turn (setImmediate), so a lone frame still leaves in the turn it was produced.
 * The caps bound how much one batch holds back and how large one write gets.
 */
export class WriteCoalescer {
  private pending: CorkedSocket[] = [];
  /** Sockets whose writes wait for `releaseHold` (at the latest, the end of the turn). */
  private readonly holds = new Set<Socket>();
  private scheduled = false;

  constructor(
    private readonly limits: CoalescingLimits = DEFAULT_COALESCING,
    /** Told the size of each batch written (frames). */
    private readonly onBatch: (frames: number, target: CorkedSocket) => void = () => undefined,
    private readonly defer: (callback: () => void) => unknown = setImmediate,
  ) {}

  write(target: CorkedSocket, frame: Buffer): void {
    if (target.corkedFrames === 0) {
      target.raw.cork();
      this.pending.push(target);
      this.scheduleFlush();
    }
    target.raw.write(frame);
    target.corkedFrames += 1;
    target.corkedBytes += frame.length;
    if (target.corkedFrames >= this.limits.maxFrames || target.corkedBytes >= this.limits.maxBytes) this.release(target);
  }

  /**
   * Holds whatever is written to `raw` until `releaseHold(raw)` or the end of the turn: a
   * handshake's 101 response then leaves in one write with the `connected` frame that follows it.
   */
  hold(raw: Socket): void {
    raw.cork();
    this.holds.add(raw);
    this.scheduleFlush();
  }

  releaseHold(raw: Socket): void {
    if (this.holds.delete(raw)) raw.uncork();
  }

  /** Writes every batch in progress, and what held sockets hold. */
  readonly flush = (): void => {
    this.scheduled = false;
    const batches = this.pending;
    this.pending = [];
    for (const target of batches) if (target.corkedFrames > 0) this.release(target);
    for (const raw of this.holds) raw.uncork();
    this.holds.clear();
  };

  /** Writes one socket's batch now (e.g. a handshake's frames: nothing else is coming for it). */
  flushOne(target: CorkedSocket): void {
    if (target.corkedFrames > 0) this.release(target);
  }

  private scheduleFlush(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(this.flush);
  }

  private release(target: CorkedSocket): void {
    this.onBatch(target.corkedFrames, target);
    target.corkedFrames = 0;
    target.corkedBytes = 0;
    target.raw.uncork();
  }
}
