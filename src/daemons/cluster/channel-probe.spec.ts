import { jest } from '@jest/globals';
import type { RedisConnections } from '../../redis/redis-connections.js';
import { ChannelProbe } from './channel-probe.js';

/** A stand-in for the Redis connections: ready or not, heard or not, and what the probe asked of it. */
function fakeRedis() {
  const state = { isReady: true, ownChannelHeard: false, resubscribes: 0, replacements: 0 };
  const redis = {
    get isReady() {
      return state.isReady;
    },
    get ownChannelHeard() {
      return state.ownChannelHeard;
    },
    heardOwnChannelMessage: () => (state.ownChannelHeard = true),
    resubscribeAll: () => (state.resubscribes += 1),
    reconnectSubscriber: () => (state.replacements += 1),
  };
  return { state, redis: redis as unknown as RedisConnections };
}

describe('ChannelProbe', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('at boot subscribes again after 2 s unheard, and replaces the subscriber after 6 s', () => {
    const { state, redis } = fakeRedis();
    const published: number[] = [];
    const probe = new ChannelProbe(redis, (at) => published.push(at));
    probe.start();
    jest.advanceTimersByTime(1_950);
    expect(state.resubscribes).toBe(0);
    jest.advanceTimersByTime(100);
    expect(state.resubscribes).toBe(1);
    jest.advanceTimersByTime(4_000);
    expect(state.replacements).toBe(1);
    expect(published.length).toBeGreaterThan(50);
    probe.heard(Date.now());
    const sent = published.length;
    jest.advanceTimersByTime(1_000);
    expect(published.length).toBe(sent);
    probe.stop();
  });

  it('once running, replaces a subscriber whose probes go unanswered for 30 s, and not one that answers', () => {
    const { state, redis } = fakeRedis();
    const probe = new ChannelProbe(redis, () => undefined);
    probe.start();
    probe.heard(Date.now());
    for (let i = 0; i < 12; i += 1) {
      jest.advanceTimersByTime(5_000);
      probe.heard(Date.now());
    }
    expect(state.replacements).toBe(0);
    jest.advanceTimersByTime(30_000);
    expect(state.replacements).toBe(0);
    jest.advanceTimersByTime(5_000);
    expect(state.replacements).toBe(1);
    probe.stop();
  });

  it('does not count probes while Redis is down', () => {
    const { state, redis } = fakeRedis();
    const probe = new ChannelProbe(redis, () => undefined);
    probe.start();
    probe.heard(Date.now());
    state.isReady = false;
    jest.advanceTimersByTime(120_000);
    state.isReady = true;
    jest.advanceTimersByTime(10_000);
    probe.heard(Date.now());
    jest.advanceTimersByTime(25_000);
    expect(state.replacements).toBe(0);
    probe.stop();
  });
});
