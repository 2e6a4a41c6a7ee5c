import { DaemonMessageType, type Frame } from '@arbor/gateway-client/protocol';
import { EventFrame } from '../../daemons/streams/event-frame.js';

interface Pending {
  frame: EventFrame;
  /** How many events of its path this one stands for. */
  merged: number;
}

/**
 * Per-path coalescing for one subscription that asked for it (`coalesceMs`): `file-change` events
 * of one `(workspaceId, path)` arriving within the window are merged into the last of them. Any
 * other frame flushes what waits first, so events still leave in `seq` order. An event that follows
 * merged-away ones carries `prev` (the `seq` delivered before it): the client's position stays exact
 * and a real gap is still told from a merge.
 */
export class PathCoalescer {
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private last: { epoch: string; seq: number } | undefined;

  constructor(
    private readonly windowMs: number,
    private readonly write: (frame: Frame | EventFrame) => void,
  ) {}

  /** The position the subscription's snapshot reflects: the first `prev` counts from it. */
  startAt(position: { epoch: string; seq: number }): void {
    this.last = { epoch: position.epoch, seq: position.seq };
  }

  /** A frame that went out without passing here (the snapshot's replay): the next `prev` counts from it. */
  wrote(frame: Frame | EventFrame): void {
    if (frame instanceof EventFrame) this.last = { epoch: frame.epoch, seq: frame.seq };
  }

  push(frame: Frame | EventFrame): void {
    if (frame instanceof EventFrame && frame.type === DaemonMessageType.FileChange) {
      const key = frame.fileChangeKey;
      const earlier = this.pending.get(key);
      // Re-inserted at the end: the map stays in the order of each entry's latest seq.
      this.pending.delete(key);
      this.pending.set(key, { frame, merged: (earlier?.merged ?? 0) + 1 });
      this.timer ??= setTimeout(() => this.flush(), this.windowMs);
      return;
    }
    this.flush();
    this.emit(frame, 1);
  }

  /** Drops what waits: the subscription ended. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private flush(): void {
    // Every frame but a file-change flushes: nothing to do unless a change waits.
    if (this.pending.size === 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const { frame, merged } of waiting) this.emit(frame, merged);
  }

  private emit(frame: Frame | EventFrame, merged: number): void {
    if (!(frame instanceof EventFrame)) return this.write(frame);
    const prev = this.last?.epoch === frame.epoch ? this.last.seq : undefined;
    this.last = { epoch: frame.epoch, seq: frame.seq };
    // Next in line and standing for itself alone: the shared serialized frame, as for any viewer.
    if (merged === 1 && (prev === undefined || prev === frame.seq - 1)) return this.write(frame);
    const annotated = JSON.parse(frame.text) as Frame & { prev?: number; merged?: number };
    if (prev !== undefined) annotated.prev = prev;
    if (merged > 1) annotated.merged = merged;
    this.write(annotated);
  }
}
