/** Messages sent while disconnected, bounded in count and UTF-8 bytes; the oldest go first when full. */
export class OfflineQueue {
  private messages: Array<{ text: string; bytes: number }> = [];
  private bytes = 0;

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
    private readonly dropped: (text: string) => void,
  ) {}

  get length(): number {
    return this.messages.length;
  }

  get byteLength(): number {
    return this.bytes;
  }

  add(text: string): void {
    const bytes = utf8Length(text);
    this.messages.push({ text, bytes });
    this.bytes += bytes;
    while (this.messages.length > this.maxMessages || this.bytes > this.maxBytes) {
      const oldest = this.messages.shift()!;
      this.bytes -= oldest.bytes;
      this.dropped(oldest.text);
    }
  }

  /** Empties the queue, oldest first. */
  take(): string[] {
    const texts = this.messages.map((message) => message.text);
    this.clear();
    return texts;
  }

  clear(): void {
    this.messages = [];
    this.bytes = 0;
  }
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i += 1;
    } else bytes += 3;
  }
  return bytes;
}
