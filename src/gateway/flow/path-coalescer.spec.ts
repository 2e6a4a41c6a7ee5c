import { jest } from '@jest/globals';
import { DaemonMessageType, ServerMessageType, type Frame } from '@arbor/gateway-client/protocol';
import { EventFrame } from '../../daemons/streams/event-frame.js';
import { PathCoalescer } from './path-coalescer.js';

const change = (seq: number, path: string, epoch = 'E') =>
  EventFrame.of(DaemonMessageType.FileChange, 'd1', epoch, seq, { workspaceId: 'w', path, event: 'change' });
const task = (seq: number) => EventFrame.of(DaemonMessageType.TaskStatus, 'd1', 'E', seq, { taskId: 't', status: 'running' });

/** What left, as `seq:path prev merged` (or the frame's type). */
function describeFrame(frame: Frame | EventFrame): string {
  const parsed = (frame instanceof EventFrame ? JSON.parse(frame.text) : frame) as {
    type: string;
    seq?: number;
    payload?: { path?: string };
    prev?: number;
    merged?: number;
  };
  if (parsed.seq === undefined) return parsed.type;
  return [
    `${parsed.seq}:${parsed.payload?.path ?? parsed.type}`,
    parsed.prev !== undefined && `prev=${parsed.prev}`,
    parsed.merged !== undefined && `merged=${parsed.merged}`,
  ]
    .filter(Boolean)
    .join(' ');
}

describe('PathCoalescer', () => {
  let written: Array<Frame | EventFrame>;
  let coalescer: PathCoalescer;

  beforeEach(() => {
    jest.useFakeTimers();
    written = [];
    coalescer = new PathCoalescer(100, (frame) => written.push(frame));
    coalescer.startAt({ epoch: 'E', seq: 10 });
  });

  afterEach(() => {
    coalescer.stop();
    jest.useRealTimers();
  });

  it("merges one path's changes within the window into the last, in seq order, naming the event before each", () => {
    for (const [seq, path] of [
      [11, 'a'],
      [12, 'a'],
      [13, 'b'],
      [14, 'a'],
      [15, 'c'],
    ] as const)
      coalescer.push(change(seq, path));
    expect(written).toEqual([]);
    jest.advanceTimersByTime(100);
    expect(written.map(describeFrame)).toEqual(['13:b prev=10', '14:a prev=13 merged=3', '15:c']);
  });

  it('sends the shared frame itself when nothing was merged before it', () => {
    const first = change(11, 'a');
    const second = change(12, 'b');
    coalescer.push(first);
    coalescer.push(second);
    jest.advanceTimersByTime(100);
    expect(written[0]).toBe(first);
    expect(written[1]).toBe(second);
  });

  it('any other frame flushes what waits first, then goes out at once', () => {
    coalescer.push(change(11, 'a'));
    coalescer.push(change(12, 'a'));
    coalescer.push(task(13));
    coalescer.push({ type: ServerMessageType.ResyncRequired, payload: { reason: 'history_expired' } });
    expect(written.map(describeFrame)).toEqual(['12:a prev=10 merged=2', '13:task-status', 'resync-required']);
  });

  it('counts from frames that went out without it (the replay), and not across epochs', () => {
    coalescer.wrote(change(11, 'x'));
    coalescer.push(change(12, 'a'));
    coalescer.push(change(13, 'a'));
    jest.advanceTimersByTime(100);
    coalescer.push(change(1, 'a', 'F'));
    coalescer.push(change(2, 'a', 'F'));
    jest.advanceTimersByTime(100);
    expect(written.map(describeFrame)).toEqual(['13:a prev=11 merged=2', '2:a merged=2']);
  });

  it('drops what waits when stopped', () => {
    coalescer.push(change(11, 'a'));
    coalescer.stop();
    jest.advanceTimersByTime(1000);
    expect(written).toEqual([]);
  });
});
