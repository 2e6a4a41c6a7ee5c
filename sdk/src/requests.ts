import { ConnectionClosedError, GatewayRequestError, RequestTimeoutError } from './errors.js';
import { ServerMessageType, type ErrorPayload, type Frame, type TraceContext } from './protocol.js';
import { randomId } from './random-id.js';
import type { TimerHandle, TimerSet } from './timers.js';

interface Pending {
  type: string;
  frame: Frame;
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
  timer: TimerHandle;
}

/** Correlates requests with replies by `id`, each with a timeout. */
export class RequestTracker {
  private readonly pending = new Map<string, Pending>();
  /** Random per tracker: ids double as command ids, which the gateway deduplicates for minutes. */
  private readonly prefix = randomId().slice(0, 13);
  private counter = 0;

  constructor(
    private readonly timers: TimerSet,
    private readonly timeoutMs: number,
  ) {}

  /** Registers a request; `send` is called with the frame (id included). */
  request(type: string, payload: object | undefined, tc: TraceContext | undefined, send: (frame: Frame) => void): Promise<Frame> {
    const id = `${this.prefix}-${++this.counter}`;
    const frame: Frame = payload === undefined ? { type, id } : { type, payload, id };
    if (tc) frame.tc = tc;
    return new Promise<Frame>((resolve, reject) => {
      const timer = this.timers.after(this.timeoutMs, () => {
        this.pending.delete(id);
        reject(new RequestTimeoutError(type, this.timeoutMs));
      });
      this.pending.set(id, { type, frame, resolve, reject, timer });
      send(frame);
    });
  }

  /** Settles the request a frame answers; returns false for frames that answer none. */
  settle(frame: Frame): boolean {
    if (frame.id === undefined) return false;
    const entry = this.pending.get(frame.id);
    if (!entry) return false;
    this.pending.delete(frame.id);
    this.timers.cancel(entry.timer);
    if (frame.type === ServerMessageType.Error) entry.reject(new GatewayRequestError(frame.payload as ErrorPayload));
    else entry.resolve(frame);
    return true;
  }

  /** Frames of unanswered requests of these types, oldest first (to send again after a reconnect). */
  unanswered(types: readonly string[]): Frame[] {
    return [...this.pending.values()].filter((entry) => types.includes(entry.type)).map((entry) => entry.frame);
  }

  rejectAll(): void {
    for (const [id, entry] of this.pending) {
      this.timers.cancel(entry.timer);
      entry.reject(new ConnectionClosedError(entry.type));
      this.pending.delete(id);
    }
  }

  get size(): number {
    return this.pending.size;
  }
}
