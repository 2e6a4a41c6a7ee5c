import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { IncompleteRequestGuard } from './incomplete-requests.js';

/** A socket as the guard sees it: its address, what was written to it, whether it was destroyed. */
class FakeSocket extends EventEmitter {
  written = '';
  destroyed = false;

  constructor(readonly remoteAddress: string) {
    super();
  }

  end(data: string, done: () => void): void {
    this.written += data;
    done();
  }

  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

describe('IncompleteRequestGuard', () => {
  let now = 0;
  const guard = (maxPerAddress: number, maxTotal: number) =>
    new IncompleteRequestGuard({ headersTimeoutMs: 1000, requestTimeoutMs: 1000, maxPerAddress, maxTotal }, undefined, () => now);
  const open = (target: IncompleteRequestGuard, address = '10.0.0.1') => {
    const socket = new FakeSocket(address);
    target.opened(socket as unknown as Socket);
    return socket;
  };
  const status = (socket: FakeSocket) => /^HTTP\/1\.1 (\d{3})/.exec(socket.written)?.[1];

  beforeEach(() => (now = 0));

  it('lets a burst of young sockets from one address past its cap: nobody is refused or shed', () => {
    const target = guard(3, 100);
    const sockets = Array.from({ length: 10 }, () => open(target));
    expect(sockets.filter((socket) => socket.destroyed)).toHaveLength(0);
    expect(target.size).toBe(10);
  });

  it("past an address's cap, each newcomer sheds that address's oldest stalled socket (408), never another address's", () => {
    const target = guard(3, 100);
    const other = open(target, '10.0.0.2');
    const old = [open(target), open(target), open(target)];
    now = 500; // half the headers deadline: stalled
    const newcomers = [open(target), open(target)];
    expect(old.map(status)).toEqual(['408', '408', undefined]);
    expect(newcomers.some((socket) => socket.destroyed)).toBe(false);
    expect(other.destroyed).toBe(false);
    expect(target.size).toBe(4);
  });

  it('a socket that completed its request no longer counts', () => {
    const target = guard(2, 100);
    const [first, second] = [open(target), open(target)];
    target.completed(first as unknown as Socket);
    target.completed(first as unknown as Socket);
    now = 600;
    open(target);
    expect(second.destroyed).toBe(false);
    expect(target.size).toBe(2);
  });

  it('at the total cap, a newcomer sheds the oldest stalled socket anywhere, or is refused (503) while none is stalled', () => {
    const target = guard(100, 3);
    const first = open(target, '10.0.0.1');
    now = 100;
    open(target, '10.0.0.2');
    open(target, '10.0.0.3');
    const refused = open(target, '10.0.0.4');
    expect(status(refused)).toBe('503');
    expect(refused.written).toContain('Retry-After: 1');
    now = 550;
    const admitted = open(target, '10.0.0.4');
    expect(status(first)).toBe('408');
    expect(admitted.destroyed).toBe(false);
    expect(target.size).toBe(3);
  });
});
