/**
 * A complete unmasked WebSocket text frame (RFC 6455 §5.2: FIN, opcode 1, server → client
 * frames are never masked), header and payload in one buffer. A fan-out encodes an event once
 * and writes the same buffer to every recipient's socket.
 */
export function encodeTextFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, headerLength, 'utf8');
  return frame;
}

/** The payload's length in a frame made by encodeTextFrame (its header is 2, 4 or 10 bytes). */
export function payloadLength(frame: Buffer): number {
  return frame.length - (frame[1] < 126 ? 2 : frame[1] === 126 ? 4 : 10);
}
