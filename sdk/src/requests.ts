import { ConnectionClosedError, GatewayRequestError, RequestTimeoutError } from './errors.js';
import { ServerMessageType, type ErrorPayload, type Frame } from './protocol.js';
import type { TimerHandle, TimerSet } from './timers.js';

interface Pending {
  type: string;
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
  timer: TimerHandle;
}

/** Correlates requests with replies by `id`, each with a timeout. */
export class RequestTracker {
  private readonly pending = new Map<string, Pending>();
  private counter = 0;

  constructor(
    private readonly timers: TimerSet,
    private readonly timeoutMs: number,
  ) {}

  /** Registers a request; `send` is called with the frame (id included). */
  request(type: string, payload: object | undefined, send: (frame: Frame) => void): Promise<Frame> {
    const id = `r${++this.counter}`;
    return new Promise<Frame>((resolve, reject) => {
      const timer = this.timers.after(this.timeoutMs, () => {
        this.pending.delete(id);
        reject(new RequestTimeoutError(type, this.timeoutMs));
      });
      this.pending.set(id, { type, resolve, reject, timer });
      send(payload === undefined ? { type, id } : { type, payload, id });
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
