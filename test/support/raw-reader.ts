import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A minimal WebSocket client over a raw TCP socket, for load tests: it parses the gateway's frames
 * itself (unmasked, unfragmented text, and close) and hands each payload over as a Buffer, which is
 * far cheaper than a full client when one test process reads fifty sockets. With a pace it reads
 * only `bytes` every `ms` (its socket stays paused in between), so the kernel's buffers fill and
 * then the gateway's: a real slow consumer, not a stalled one.
 */
export class RawReader {
  readonly socket: Socket;
  closeCode: number | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private upgraded = false;
  private flowing = false;

  constructor(
    port: number,
    path: string,
    private readonly onText: (payload: Buffer) => void,
    pace?: { bytes: number; ms: number },
  ) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    this.socket.on('close', () => (this.closeCode ??= 1006));
    this.socket.on('error', () => undefined);
    if (pace) {
      this.socket.pause();
      this.timer = setInterval(() => this.readSome(pace.bytes), pace.ms);
    } else {
      this.readFreely();
    }
  }

  /** Reads everything from now on, as fast as it arrives. */
  readFreely(): void {
    if (this.flowing) return;
    this.flowing = true;
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
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    if (!this.upgraded) {
      const end = this.pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!this.pending.subarray(0, 12).toString().includes('101')) throw new Error(`upgrade refused: ${this.pending.subarray(0, end).toString()}`);
      this.upgraded = true;
      this.pending = this.pending.subarray(end + 4);
    }
    let offset = 0;
    const buffer = this.pending;
    while (buffer.length - offset >= 2) {
      const opcode = buffer[offset] & 0x0f;
      let length = buffer[offset + 1] & 0x7f;
      let header = 2;
      if (length === 126) {
        if (buffer.length - offset < 4) break;
        length = buffer.readUInt16BE(offset + 2);
        header = 4;
      } else if (length === 127) {
        if (buffer.length - offset < 10) break;
        length = buffer.readUInt32BE(offset + 6);
        header = 10;
      }
      if (buffer.length - offset < header + length) break;
      const payload = buffer.subarray(offset + header, offset + header + length);
      if (opcode === 0x1) this.onText(payload);
      else if (opcode === 0x8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      offset += header + length;
    }
    this.pending = offset === buffer.length ? Buffer.alloc(0) : buffer.subarray(offset);
  }
}
