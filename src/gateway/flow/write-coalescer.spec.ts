import { jest } from '@jest/globals';
import type { Socket } from 'node:net';
import { WriteCoalescer, type CorkedSocket } from './write-coalescer.js';

/** A socket that records what reaches the network: one entry per uncorked write. */
function recordingSocket(): CorkedSocket & { writes: string[][] } {
  const writes: string[][] = [];
  let corked = 0;
  let batch: string[] = [];
  const raw = {
    cork: () => (corked += 1),
    uncork: () => {
      corked -= 1;
      if (corked === 0 && batch.length) {
        writes.push(batch);
        batch = [];
      }
    },
    write: (chunk: Buffer) => {
      if (corked > 0) batch.push(chunk.toString());
      else writes.push([chunk.toString()]);
      return true;
    },
  } as unknown as Socket;
  return { raw, corkedFrames: 0, corkedBytes: 0, writes };
}

describe('WriteCoalescer', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('a lone frame leaves in the same turn (at setImmediate), in one write', () => {
    const batches: number[] = [];
    const coalescer = new WriteCoalescer({ maxFrames: 32, maxBytes: 1024 }, (frames) => batches.push(frames));
    const socket = recordingSocket();
    coalescer.write(socket, Buffer.from('a'));
    expect(socket.writes).toEqual([]);
    jest.runOnlyPendingTimers();
    expect(socket.writes).toEqual([['a']]);
    expect(batches).toEqual([1]);
  });

  it('frames of one turn go out together, per socket, in order', () => {
    const coalescer = new WriteCoalescer({ maxFrames: 32, maxBytes: 1024 });
    const [one, two] = [recordingSocket(), recordingSocket()];
    for (const text of ['1', '2', '3']) {
      coalescer.write(one, Buffer.from(text));
      coalescer.write(two, Buffer.from(text.repeat(2)));
    }
    jest.runOnlyPendingTimers();
    expect(one.writes).toEqual([['1', '2', '3']]);
    expect(two.writes).toEqual([['11', '22', '33']]);
  });

  it('the frame cap splits a large batch; the rest still leaves at the end of the turn', () => {
    const batches: number[] = [];
    const coalescer = new WriteCoalescer({ maxFrames: 4, maxBytes: 1024 }, (frames) => batches.push(frames));
    const socket = recordingSocket();
    for (let i = 0; i < 10; i += 1) coalescer.write(socket, Buffer.from(String(i)));
    expect(socket.writes).toEqual([
      ['0', '1', '2', '3'],
      ['4', '5', '6', '7'],
    ]);
    jest.runOnlyPendingTimers();
    expect(socket.writes.at(-1)).toEqual(['8', '9']);
    expect(batches).toEqual([4, 4, 2]);
  });

  it('the byte cap splits too', () => {
    const coalescer = new WriteCoalescer({ maxFrames: 100, maxBytes: 10 });
    const socket = recordingSocket();
    for (let i = 0; i < 5; i += 1) coalescer.write(socket, Buffer.from('xxxx'));
    // 4 + 4 + 4 ≥ 10: the third frame completes a batch.
    expect(socket.writes).toEqual([['xxxx', 'xxxx', 'xxxx']]);
    jest.runOnlyPendingTimers();
    expect(socket.writes).toEqual([
      ['xxxx', 'xxxx', 'xxxx'],
      ['xxxx', 'xxxx'],
    ]);
  });

  it("an explicit flush writes everything now, and the turn's flush then has nothing left", () => {
    const batches: number[] = [];
    const coalescer = new WriteCoalescer({ maxFrames: 32, maxBytes: 1024 }, (frames) => batches.push(frames));
    const socket = recordingSocket();
    coalescer.write(socket, Buffer.from('a'));
    coalescer.flush();
    expect(socket.writes).toEqual([['a']]);
    jest.runOnlyPendingTimers();
    expect(batches).toEqual([1]);
  });
});

describe('WriteCoalescer.flushOne', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('writes one socket now and leaves the others to the end of the turn', () => {
    const coalescer = new WriteCoalescer({ maxFrames: 32, maxBytes: 1024 });
    const [one, two] = [recordingSocket(), recordingSocket()];
    coalescer.write(one, Buffer.from('a'));
    coalescer.write(two, Buffer.from('b'));
    coalescer.flushOne(one);
    expect([one.writes, two.writes]).toEqual([[['a']], []]);
    jest.runOnlyPendingTimers();
    expect([one.writes, two.writes]).toEqual([[['a']], [['b']]]);
  });
});

describe('WriteCoalescer.hold', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('a held socket (a handshake) sends its 101 and its first batch in one write when released', () => {
    const coalescer = new WriteCoalescer({ maxFrames: 32, maxBytes: 1024 });
    const socket = recordingSocket();
    coalescer.hold(socket.raw);
    socket.raw.write(Buffer.from('101'));
    coalescer.write(socket, Buffer.from('connected'));
    coalescer.flushOne(socket);
    expect(socket.writes).toEqual([]);
    coalescer.releaseHold(socket.raw);
    expect(socket.writes).toEqual([['101', 'connected']]);
    jest.runOnlyPendingTimers();
    // Released exactly once: later writes are no longer corked.
    socket.raw.write(Buffer.from('later'));
    expect(socket.writes).toEqual([['101', 'connected'], ['later']]);
  });

  it('a hold never outlives the turn: unreleased, what it holds leaves at setImmediate', () => {
    const coalescer = new WriteCoalescer({ maxFrames: 32, maxBytes: 1024 });
    const socket = recordingSocket();
    coalescer.hold(socket.raw);
    socket.raw.write(Buffer.from('101'));
    jest.runOnlyPendingTimers();
    expect(socket.writes).toEqual([['101']]);
    coalescer.releaseHold(socket.raw);
    socket.raw.write(Buffer.from('connected'));
    expect(socket.writes).toEqual([['101'], ['connected']]);
  });
});
