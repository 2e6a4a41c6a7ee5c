/** Whatever the platform's setTimeout returns (a number in browsers, an object in Node). */
export type TimerHandle = object | number;

/** Clock and timers, injectable so tests can drive time and count what is left running. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Wall-clock ms; used for liveness so throttled background timers never cause false timeouts. */
  now(): number;
}

export const systemTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
  now: () => Date.now(),
};

/** Tracks every timer it starts so an owner can cancel them all in one place. */
export class TimerSet {
  private readonly active = new Set<TimerHandle>();

  constructor(private readonly timers: Timers) {}

  now(): number {
    return this.timers.now();
  }

  after(ms: number, callback: () => void): TimerHandle {
    const handle = this.timers.setTimeout(() => {
      this.active.delete(handle);
      callback();
    }, ms);
    this.active.add(handle);
    return handle;
  }

  cancel(handle: TimerHandle | undefined): void {
    if (handle === undefined || !this.active.has(handle)) return;
    this.active.delete(handle);
    this.timers.clearTimeout(handle);
  }

  cancelAll(): void {
    for (const handle of this.active) this.timers.clearTimeout(handle);
    this.active.clear();
  }

  get size(): number {
    return this.active.size;
  }
}
