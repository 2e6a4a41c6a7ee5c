import { ClientMessageType, type Frame } from '@arbor/gateway-client/protocol';
import { RecordingLink } from '../../../test/support/recording-link.js';
import { CommandDelivery } from './command-delivery.js';
import { InMemoryCommandInbox } from './in-memory-command-inbox.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const frame = (id: string): Frame => ({ type: ClientMessageType.CancelTask, id, payload: { taskId: id, userId: 'u1' } });
const command = (id: string, userId = 'u1') => ({ id, userId, frame: frame(id), senderInstance: 'i1' });

describe('InMemoryCommandInbox', () => {
  let holder: string | undefined;
  let inbox: InMemoryCommandInbox;

  beforeEach(() => {
    holder = 'link-1';
    inbox = new InMemoryCommandInbox(1000, 5000, () => holder);
  });

  it('numbers accepted commands in order, answers a resend with its state, and refuses another user’s id', async () => {
    const first = await inbox.accept('d1', command('a'), T0);
    const second = await inbox.accept('d1', command('b'), T0);
    expect(first.kind === 'accepted' && second.kind === 'accepted' && second.command.seq - first.command.seq).toBe(1);
    expect(await inbox.accept('d1', command('a'), T0)).toEqual({ kind: 'duplicate', outcome: 'accepted' });
    expect(await inbox.accept('d1', command('a', 'u2'), T0)).toEqual({ kind: 'conflict' });
    // Another daemon's ids are its own.
    expect((await inbox.accept('d2', command('a', 'u2'), T0)).kind).toBe('accepted');
    expect((await inbox.pending('d1', T0)).commands.map((pending) => pending.id)).toEqual(['a', 'b']);
  });

  it('counts a confirmation only from the daemon’s current connection, and takes a command out once', async () => {
    await inbox.accept('d1', command('a'), T0);
    expect(await inbox.confirm('d1', 'a', 'link-0')).toBeUndefined();
    expect((await inbox.pending('d1', T0)).commands).toHaveLength(1);
    expect((await inbox.confirm('d1', 'a', 'link-1'))?.id).toBe('a');
    expect(await inbox.confirm('d1', 'a', 'link-1')).toBeUndefined();
    expect(await inbox.expire('d1', 'a', T0 + 5000)).toBeUndefined();
    expect(await inbox.outcome('d1', 'a')).toBe('delivered');
    expect(await inbox.accept('d1', command('a'), T0)).toEqual({ kind: 'duplicate', outcome: 'delivered' });
  });

  it('expires a command only once its time is up, then never confirms it; forgets the id after the dedupe TTL', async () => {
    await inbox.accept('d1', command('a'), T0);
    expect(await inbox.expire('d1', 'a', T0 + 999)).toBeUndefined();
    expect((await inbox.pending('d1', T0 + 1000)).commands).toEqual([]);
    expect((await inbox.expire('d1', 'a', T0 + 1000))?.id).toBe('a');
    expect(await inbox.confirm('d1', 'a', 'link-1')).toBeUndefined();
    expect(await inbox.outcome('d1', 'a')).toBe('expired');
    expect((await inbox.accept('d1', command('a'), T0 + 5001)).kind).toBe('accepted');
  });

  it('starts a daemon’s numbering on the first read, so the next accepted command is the next number', async () => {
    const { lastSeq } = await inbox.pending('d1', T0);
    const accepted = await inbox.accept('d1', command('a'), T0 + 10);
    expect(accepted.kind === 'accepted' && accepted.command.seq).toBe(lastSeq + 1);
  });
});

describe('CommandDelivery', () => {
  it('sends a new connection what waits, then each nudge once and in order, reading the inbox when one skips ahead', async () => {
    const inbox = new InMemoryCommandInbox(60_000, 60_000, () => 'link');
    const delivery = new CommandDelivery(inbox);
    await inbox.accept('d1', command('waiting'), Date.now());
    const link = new RecordingLink('link');
    await delivery.attached('d1', link);
    expect(link.frames.map((sent) => sent.id)).toEqual(['waiting']);

    const a = await inbox.accept('d1', command('a'), Date.now());
    const b = await inbox.accept('d1', command('b'), Date.now());
    const c = await inbox.accept('d1', command('c'), Date.now());
    if (a.kind !== 'accepted' || b.kind !== 'accepted' || c.kind !== 'accepted') throw new Error('not accepted');
    // c's nudge overtakes a's and b's: the inbox is read, so nothing is sent out of order.
    delivery.arrived('d1', { seq: c.command.seq, frame: c.command.frame });
    delivery.arrived('d1', { seq: a.command.seq, frame: a.command.frame });
    delivery.arrived('d1', { seq: b.command.seq, frame: b.command.frame });
    await new Promise((resolve) => setImmediate(resolve));
    delivery.arrived('d1', { seq: c.command.seq, frame: c.command.frame });
    expect(link.frames.map((sent) => sent.id)).toEqual(['waiting', 'a', 'b', 'c']);

    // A connection that left takes nothing with it; the next one gets everything unconfirmed.
    delivery.detached('d1', link);
    delivery.arrived('d1', { seq: c.command.seq + 1, frame: frame('lost-nudge') });
    const next = new RecordingLink('next');
    await delivery.attached('d1', next);
    expect(next.frames.map((sent) => sent.id)).toEqual(['waiting', 'a', 'b', 'c']);
  });
});
