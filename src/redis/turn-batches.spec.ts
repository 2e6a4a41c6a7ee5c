import { jest } from '@jest/globals';
import { TurnBatches } from './turn-batches.js';

describe('TurnBatches', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it("hands over a turn's items per key, in order, at the end of the turn", () => {
    const sent: Array<[string, string[]]> = [];
    const batches = new TurnBatches<string>((key, items) => sent.push([key, items]), 10);
    batches.add('a', '1');
    batches.add('b', 'x');
    batches.add('a', '2');
    expect(sent).toEqual([]);
    jest.runOnlyPendingTimers();
    expect(sent).toEqual([
      ['a', ['1', '2']],
      ['b', ['x']],
    ]);
  });

  it('a full batch (by count or by weight) goes at once; an explicit flushAll sends the rest', () => {
    const sent: Array<[string, string[]]> = [];
    const batches = new TurnBatches<string>(
      (key, items) => sent.push([key, items]),
      3,
      5,
      (item) => item.length,
    );
    batches.add('a', '1');
    batches.add('a', '2');
    batches.add('a', '3');
    expect(sent).toEqual([['a', ['1', '2', '3']]]);
    batches.add('b', 'xxx');
    batches.add('b', 'yy');
    expect(sent).toEqual([
      ['a', ['1', '2', '3']],
      ['b', ['xxx', 'yy']],
    ]);
    batches.add('c', 'z');
    batches.flushAll();
    expect(sent.at(-1)).toEqual(['c', ['z']]);
    jest.runOnlyPendingTimers();
    expect(sent).toHaveLength(3);
  });
});
