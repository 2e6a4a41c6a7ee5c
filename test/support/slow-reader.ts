import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Receiver } from 'ws';

/**
 * A WebSocket client that reads at a fixed pace: its TCP socket stays paused and it takes
 * `bytesPerTick` every `tickMs` (so the kernel's buffers fill and the gateway's grows), feeding
 * them to ws's own frame parser. A real slow consumer, not a stalled one.
 */
export class SlowReader {
  readonly socket: Socket;
  readonly texts: string[] = [];
  closeCode: number | undefined;
  private readonly timer: NodeJS.Timeout;
  private handshake = Buffer.alloc(0);
  private upgraded = false;
  private reading = false;
  private readonly receiver = new Receiver({ isServer: false });

  constructor(port: number, path: string, bytesPerTick: number, tickMs: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.pause();
    this.socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    this.receiver.on('message', (data: Buffer) => this.texts.push(data.toString()));
    this.receiver.on('conclude', (code: number) => (this.closeCode = code));
    this.socket.on('close', () => (this.closeCode ??= 1006));
    this.socket.on('error', () => undefined);
    this.timer = setInterval(() => this.readSome(bytesPerTick), tickMs);
  }

  /** Reads everything from now on, as fast as it arrives. */
  readFreely(): void {
    if (this.reading) return;
    this.reading = true;
    clearInterval(this.timer);
    this.socket.on('data', (chunk: Buffer) => this.consume(chunk));
    this.socket.resume();
  }

  stop(): void {
    clearInterval(this.timer);
    this.socket.destroy();
  }

  private readSome(budget: number): void {
    let left = budget;
    while (left > 0) {
      const chunk = this.socket.read(Math.min(left, this.socket.readableLength || left)) as Buffer | null;
      if (!chunk) break;
      left -= chunk.length;
      this.consume(chunk);
    }
  }

  private consume(chunk: Buffer): void {
    if (this.upgraded) {
      this.receiver.write(chunk);
      return;
    }
    this.handshake = Buffer.concat([this.handshake, chunk]);
    const end = this.handshake.indexOf('\r\n\r\n');
    if (end < 0) return;
    if (!this.handshake.subarray(0, 12).toString().includes('101')) throw new Error(`upgrade refused: ${this.handshake.subarray(0, end).toString()}`);
    this.upgraded = true;
    const rest = this.handshake.subarray(end + 4);
    if (rest.length) this.receiver.write(rest);
  }
}
