import WebSocket, { type ClientOptions } from 'ws';

export interface ReceivedFrame {
  type: string;
  payload?: any;
  id?: string;
  daemonId?: string;
  epoch?: string;
  seq?: number;
  [key: string]: unknown;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

const DEFAULT_WAIT_MS = 3000;

/** A real `ws` client that records every frame and lets a test await specific ones. */
export class TestPeer {
  readonly socket: WebSocket;
  readonly received: ReceivedFrame[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseInfo>;
  private cursor = 0;
  private waiters: Array<() => void> = [];
  private nextId = 0;
  closeInfo: CloseInfo | undefined;

  constructor(url: string, options: ClientOptions = {}) {
    this.socket = new WebSocket(url, options);
    this.socket.on('message', (data, isBinary) => {
      if (!isBinary) this.received.push(JSON.parse((data as Buffer).toString('utf8')));
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      this.socket.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    this.opened = new Promise((resolve) => {
      this.socket.once('open', () => resolve());
      this.socket.once('close', () => resolve());
      this.socket.once('unexpected-response', () => resolve());
    });
    this.socket.on('error', () => undefined);
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a frame with a fresh id and waits for the reply carrying that id. */
  async request(type: string, payload?: unknown): Promise<ReceivedFrame> {
    const id = `req-${++this.nextId}`;
    this.send(payload === undefined ? { type, id } : { type, payload, id });
    return this.next((frame) => frame.id === id, `reply to ${type} (${id})`);
  }

  /** The next unread frame matching a type or predicate; frames before it are consumed. */
  async next(match: string | ((frame: ReceivedFrame) => boolean), label?: string, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceivedFrame> {
    const predicate = typeof match === 'string' ? (frame: ReceivedFrame) => frame.type === match : match;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.received.length) {
        const frame = this.received[this.cursor++];
        if (predicate(frame)) return frame;
      }
      if (this.closeInfo) throw new Error(`connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) before ${label ?? String(match)}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for ${label ?? String(match)}; received ${JSON.stringify(this.received.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until `count` frames of a type have arrived (not consuming). */
  async collect(type: string, count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceivedFrame[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frames = this.received.filter((frame) => frame.type === type);
      if (frames.length >= count) return frames;
      if (Date.now() > deadline) throw new Error(`timed out: ${frames.length}/${count} ${type} frames`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Resolves with the close code and reason, failing if the peer stays open. */
  async waitClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<CloseInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('connection did not close')), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Proves the connection still works end to end. */
  async assertAlive(): Promise<void> {
    const reply = await this.request('ping');
    if (reply.type !== 'pong') throw new Error(`expected pong, got ${JSON.stringify(reply)}`);
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.socket.close();
  }

  terminate(): void {
    this.socket.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
