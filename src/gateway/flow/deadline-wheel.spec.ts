import { DeadlineWheel, type HasDeadline } from './deadline-wheel.js';

const item = (): HasDeadline & { name?: string } => ({ deadline: undefined, deadlineSlot: undefined });

describe('DeadlineWheel', () => {
  it('fires a deadline within one slot after it, never before', () => {
    const fired: unknown[] = [];
    const wheel = new DeadlineWheel(250, (entry) => fired.push(entry), 10_000);
    const a = item();
    wheel.schedule(a, 10_600);
    wheel.tick(10_599);
    expect(fired).toEqual([]);
    wheel.tick(10_749);
    expect(fired).toEqual([]);
    wheel.tick(10_750);
    expect(fired).toEqual([a]);
    expect(wheel.size).toBe(0);
  });

  it('rescheduling moves a deadline; cancelling removes it', () => {
    const fired: unknown[] = [];
    const wheel = new DeadlineWheel(100, (entry) => fired.push(entry), 0);
    const [a, b] = [item(), item()];
    wheel.schedule(a, 150);
    wheel.schedule(b, 150);
    wheel.schedule(a, 1_000);
    wheel.cancel(b);
    wheel.tick(500);
    expect(fired).toEqual([]);
    wheel.tick(1_000);
    expect(fired).toEqual([a]);
  });

  it('catches up on every slot missed while the loop was busy, and files past deadlines for the next tick', () => {
    const fired: string[] = [];
    const wheel = new DeadlineWheel<HasDeadline & { name: string }>(100, (entry) => fired.push(entry.name), 0);
    wheel.schedule({ ...item(), name: 'x' }, 300);
    wheel.schedule({ ...item(), name: 'y' }, 700);
    wheel.tick(5_000);
    expect(fired).toEqual(['x', 'y']);
    wheel.schedule({ ...item(), name: 'late' }, 10);
    wheel.tick(5_099);
    expect(fired).toEqual(['x', 'y']);
    wheel.tick(5_100);
    expect(fired).toEqual(['x', 'y', 'late']);
  });
});
