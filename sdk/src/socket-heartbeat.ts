import type { WebSocketLike } from './socket-types.js';
import type { TimerHandle, TimerSet } from './timers.js';

const PING_FRAME = JSON.stringify({ type: 'ping' });

/**
 * App-level liveness for an open socket: a ping every `intervalMs`; no frame within `timeoutMs`
 * of it means the socket is dead. Measured on the wall clock: a late timer (a throttled tab)
 * never counts as a missing answer by itself.
 */
export class SocketHeartbeat {
  private timer: TimerHandle | undefined;
  private lastReceivedAt = 0;
  private pingSentAt = 0;

  constructor(
    private readonly timers: TimerSet,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    /** The admitted socket pings go out on; undefined while none is. */
    private readonly openSocket: () => WebSocketLike | undefined,
    private readonly dead: () => void,
  ) {}

  /** Any frame from the gateway proves the socket alive. */
  received(): void {
    this.lastReceivedAt = this.timers.now();
  }

  start(): void {
    this.timers.cancel(this.timer);
    this.timer = this.timers.after(this.intervalMs, () => this.sendPing());
  }

  stop(): void {
    this.timers.cancel(this.timer);
  }

  private sendPing(): void {
    const socket = this.openSocket();
    if (!socket) return;
    socket.send(PING_FRAME);
    this.pingSentAt = this.timers.now();
    this.timer = this.timers.after(this.timeoutMs, () => this.check());
  }

  private check(): void {
    if (this.lastReceivedAt >= this.pingSentAt) return this.start();
    const waited = this.timers.now() - this.pingSentAt;
    if (waited >= this.timeoutMs) return this.dead();
    this.timer = this.timers.after(this.timeoutMs - waited, () => this.check());
  }
}
