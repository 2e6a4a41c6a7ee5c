import type { Redis } from 'ioredis';
import { GatewayConfig } from '../src/config/gateway-config.js';
import { RedisDaemonBroker } from '../src/daemons/redis-daemon.broker.js';
import { RedisEventStreams } from '../src/daemons/streams/redis-event-streams.js';
import { RedisConnections } from '../src/redis/redis-connections.js';
import { waitFor } from './support/ports.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';

const config = GatewayConfig.load({});

/**
 * An instance is ready only once it hears a probe on its own channel. A subscription the server
 * never answers (a Cluster shard subscriber that did not start) must not keep it deaf for ever.
 */
describe('an instance deaf to its own channel', () => {
  const prefix = uniquePrefix();
  let redis: RedisConnections;
  let broker: RedisDaemonBroker;

  afterEach(async () => {
    broker?.onModuleDestroy();
    await redis?.onModuleDestroy();
  });
  afterAll(() => deletePrefix(SHARED_REDIS_URL, prefix));

  /** Makes SUBSCRIBE go unanswered while `deaf(call, disconnects so far)` holds: the command is swallowed, its promise never settles. */
  async function bootWithUnansweredSubscribe(
    deaf: (call: number, disconnects: number) => boolean,
  ): Promise<{ calls: () => number; disconnects: () => number }> {
    redis = await RedisConnections.create(SHARED_REDIS_URL, prefix);
    const subscriber = redis.subscriber as Redis;
    const subscribe = subscriber.subscribe.bind(subscriber) as (...channels: string[]) => Promise<unknown>;
    const disconnect = subscriber.disconnect.bind(subscriber);
    let calls = 0;
    let disconnects = 0;
    (subscriber as unknown as { subscribe: (...channels: string[]) => Promise<unknown> }).subscribe = (...channels: string[]) =>
      deaf(++calls, disconnects) ? new Promise(() => undefined) : subscribe(...channels);
    subscriber.disconnect = (reconnect?: boolean) => {
      disconnects += 1;
      disconnect(reconnect);
    };
    broker = new RedisDaemonBroker(redis, config, new RedisEventStreams(redis, config.replayMaxEvents, config.replayTtlMs));
    broker.onModuleInit();
    return { calls: () => calls, disconnects: () => disconnects };
  }

  it('subscribes again after 2 s and becomes ready', async () => {
    const probe = await bootWithUnansweredSubscribe((call) => call === 1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(redis.ownChannelHeard).toBe(false);
    await waitFor(() => redis.ownChannelHeard, 'own channel heard', 10_000);
    expect(probe.calls()).toBeGreaterThanOrEqual(2);
    expect(probe.disconnects()).toBe(0);
  });

  it('replaces its subscriber connection when subscribing again does not help either', async () => {
    const probe = await bootWithUnansweredSubscribe((_call, disconnects) => disconnects === 0);
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect(redis.ownChannelHeard).toBe(false);
    expect(probe.calls()).toBeGreaterThanOrEqual(2);
    await waitFor(() => redis.ownChannelHeard, 'own channel heard', 15_000);
    expect(probe.disconnects()).toBe(1);
    expect(redis.events.reconnects).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
