import { DaemonMessageType } from '@arbor/gateway-client/protocol';
import type { EventFrame } from './event-frame.js';
import type { Replay } from './event-streams.js';
import { InMemoryEventStreams } from './in-memory-event-streams.js';

const event = (path: string) => ({ type: DaemonMessageType.FileChange as const, payload: { workspaceId: 'w', path, event: 'add' } });
/** A replay with its frames as `seq:path`, checked against the fields and the text alike. */
const summary = (replay: Replay) =>
  replay.kind === 'events'
    ? {
        ...replay,
        frames: replay.frames.map((frame: EventFrame) => `${frame.seq}:${JSON.parse(frame.text).payload.path}:${JSON.parse(frame.text).seq === frame.seq}`),
      }
    : replay;

describe('InMemoryEventStreams', () => {
  let now = 0;
  const streams = () => {
    const target = new InMemoryEventStreams(5, 1000, () => now);
    void target.takeOver('d1', 'holder');
    return target;
  };
  const append = (target: InMemoryEventStreams, count: number) => {
    for (let i = 0; i < count; i += 1) target.append('d1', 'holder', event(`p${i}`));
  };

  beforeEach(() => {
    now = 0;
  });

  it('numbers events from 1 within one epoch per daemon', async () => {
    const target = streams();
    expect(await target.position('d1')).toEqual({ epoch: expect.any(String), seq: 0 });
    append(target, 3);
    const position = await target.position('d1');
    expect(position.seq).toBe(3);
    expect(await target.position('d2')).not.toEqual(expect.objectContaining({ epoch: position.epoch }));
  });

  it('replays what is retained after a position, and asks for a resync beyond it', async () => {
    const target = streams();
    append(target, 12);
    const { epoch } = await target.position('d1');
    expect(summary(await target.replay('d1', { epoch, seq: 9 }))).toEqual({
      kind: 'events',
      position: { epoch, seq: 12 },
      frames: ['10:p9:true', '11:p10:true', '12:p11:true'],
    });
    expect(summary(await target.replay('d1', { epoch, seq: 7 }))).toMatchObject({
      kind: 'events',
      frames: ['8:p7:true', '9:p8:true', '10:p9:true', '11:p10:true', '12:p11:true'],
    });
    expect(await target.replay('d1', { epoch, seq: 6 })).toMatchObject({ kind: 'resync', reason: 'history_expired' });
    expect(await target.replay('d1', { epoch, seq: 12 })).toMatchObject({ kind: 'events', frames: [] });
    expect(await target.replay('d1', { epoch: 'other', seq: 12 })).toMatchObject({ kind: 'resync', reason: 'epoch_changed' });
  });

  it('expires events older than the TTL, and forgets unused streams but never a used one', async () => {
    const target = streams();
    append(target, 2);
    const { epoch } = await target.position('d1');
    now = 1500;
    append(target, 1);
    expect(await target.replay('d1', { epoch, seq: 1 })).toMatchObject({ kind: 'resync', reason: 'history_expired' });
    expect(summary(await target.replay('d1', { epoch, seq: 2 }))).toMatchObject({ kind: 'events', frames: ['3:p0:true'] });
    now = 3000;
    target.prune(() => true);
    expect((await target.position('d1')).epoch).toBe(epoch);
    target.prune(() => false);
    expect((await target.position('d1')).epoch).not.toBe(epoch);
  });
});

describe('InMemoryEventStreams holders', () => {
  it("numbers only the holder's events: a superseded connection's are refused and it is told so", async () => {
    const streams = new InMemoryEventStreams(10, 60_000);
    const seen: string[] = [];
    const fenced: string[] = [];
    const acknowledged: number[] = [];
    streams.connect({
      committed: (frame) => void seen.push(`${JSON.parse(frame.text).payload.path}-${frame.seq}`),
      acknowledged: (_daemonId, _holder, seq) => void acknowledged.push(seq),
      fenced: (_daemonId, holder) => void fenced.push(holder),
      retracted: () => {
        throw new Error('one instance never retracts');
      },
    });
    await streams.takeOver('d1', 'old', 'S');
    streams.append('d1', 'old', event('old'), { session: 'S', seq: 1 });
    expect(await streams.takeOver('d1', 'new', 'S')).toBe(1);
    streams.append('d1', 'old', event('old'), { session: 'S', seq: 2 });
    streams.append('d1', 'new', event('new'), { session: 'S', seq: 2 });
    expect(seen).toEqual(['old-1', 'new-2']);
    expect(fenced).toEqual(['old']);
    expect(acknowledged).toEqual([1, 2]);
    expect(await streams.takeOver('d1', 'other', 'another-session')).toBe(0);
  });
});
