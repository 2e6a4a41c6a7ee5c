import { jest } from '@jest/globals';
import type { RedisConnections } from '../redis/redis-connections.js';
import { RedisInstanceRegistry } from './redis-instance-registry.js';

/** The parts of RedisConnections the registry uses, with the command connection's readiness in our hands. */
function fakeRedis() {
  const readyListeners: Array<() => void> = [];
  const hash = new Map<string, string>();
  const commands = {
    status: 'connecting',
    hset: jest.fn(async (_key: string, field: string, value: string) => (hash.set(field, value), 1)),
    hgetall: jest.fn(async () => Object.fromEntries(hash)),
    hdel: jest.fn(async () => 0),
  };
  const redis = {
    instanceId: 'instance-a',
    instancesKey: (name: string) => `{instances}:${name}`,
    commands,
    onReady: (listener: () => void) => readyListeners.push(listener),
  };
  const becomeReady = () => {
    commands.status = 'ready';
    for (const listener of readyListeners) listener();
  };
  return { redis: redis as unknown as RedisConnections, commands, becomeReady };
}

describe('RedisInstanceRegistry', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('beats the moment the command connection is ready, not a beat interval later', async () => {
    const { redis, commands, becomeReady } = fakeRedis();
    const registry = new RedisInstanceRegistry(redis);
    registry.onModuleInit();
    await Promise.resolve();
    expect(commands.hset).not.toHaveBeenCalled();

    becomeReady();
    await Promise.resolve();
    expect(commands.hset).toHaveBeenCalledWith('{instances}:registry', 'instance-a', expect.any(String));
    await jest.advanceTimersByTimeAsync(0);
    expect((await registry.live()).map((record) => record.instanceId)).toEqual(['instance-a']);
    registry.onModuleDestroy();
  });
});
