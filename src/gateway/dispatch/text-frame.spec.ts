import type { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import * as ws from 'ws';
import { encodeTextFrame, payloadLength } from './text-frame.js';

// ws's own frame parser (exported at runtime; its type definitions leave it out).
const { Receiver } = ws as unknown as { Receiver: new (options: { isServer: boolean }) => Writable & EventEmitter };

/** Frames we encode are parsed back by ws's own receiver (as a client would: unmasked server frames). */
function parse(frame: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const receiver = new Receiver({ isServer: false });
    receiver.on('message', (data: Buffer, isBinary: boolean) => (isBinary ? reject(new Error('binary')) : resolve(data.toString())));
    receiver.on('error', reject);
    receiver.write(frame);
  });
}

describe('encodeTextFrame', () => {
  it.each([0, 1, 125, 126, 127, 65_535, 65_536, 200_000])('round-trips a %i-byte text through ws', async (length) => {
    const text = 'é'.repeat(Math.floor(length / 2)) + 'a'.repeat(length % 2);
    const frame = encodeTextFrame(text);
    expect(await parse(frame)).toBe(text);
    expect(payloadLength(frame)).toBe(Buffer.byteLength(text));
  });
});
