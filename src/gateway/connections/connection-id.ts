import { randomUUID } from 'node:crypto';

/**
 * A new connection's id: a UUID as one flat string. `randomUUID()` joins its text from pieces that
 * V8 keeps as a rope of about 420 bytes, for as long as the connection keeps its id; decoding it
 * once from a buffer leaves a string of 36 bytes (`connection-id.spec.ts`).
 */
export function newConnectionId(): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1');
}
