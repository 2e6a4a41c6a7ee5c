import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { HEALTH_LOG_REMINDER_MS, HealthLog } from './health-log.js';

describe('HealthLog', () => {
  let warn: jest.SpiedFunction<Logger['warn']>;
  let log: jest.SpiedFunction<Logger['log']>;
  const redisDown = { redis: { status: 'down' as const, reason: 'subscriber: connect ECONNREFUSED 127.0.0.1:6390' } };

  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });

  afterEach(() => jest.restoreAllMocks());

  it('logs a failure once when it starts, not on every probe that repeats it, whatever its reason says', () => {
    const health = new HealthLog();
    for (let second = 0; second < 30; second += 5) health.failed('ready', redisDown, second * 1000);
    health.failed('ready', { redis: { status: 'down', reason: 'commands: connect ECONNREFUSED 127.0.0.1:6390' } }, 30_000);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toEqual({ msg: 'health check failing', probe: 'ready', reasons: `redis: ${redisDown.redis.reason}` });
  });

  it('reminds once a minute while the same failure lasts, with how long and how many probes', () => {
    const health = new HealthLog();
    for (let ms = 0; ms <= 2 * HEALTH_LOG_REMINDER_MS; ms += 5000) health.failed('ready', redisDown, ms);
    expect(warn.mock.calls.map(([entry]) => (entry as { msg: string }).msg)).toEqual([
      'health check failing',
      'health check still failing',
      'health check still failing',
    ]);
    expect(warn.mock.calls[2][0]).toMatchObject({ failingForMs: 2 * HEALTH_LOG_REMINDER_MS, failedProbes: 25 });
  });

  it('logs again at once when another check fails, and the recovery once', () => {
    const health = new HealthLog();
    health.failed('ready', redisDown, 0);
    health.failed('ready', { ...redisDown, gateway: { status: 'down', reason: 'shutting down' } }, 1000);
    health.passed('ready', 4000);
    health.passed('ready', 5000);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[1][0]).toMatchObject({ reasons: `redis: ${redisDown.redis.reason}; gateway: shutting down` });
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0][0]).toEqual({ msg: 'health check passing again', probe: 'ready', failedForMs: 4000 });
  });

  it('keeps each probe apart', () => {
    const health = new HealthLog();
    health.failed('ready', redisDown, 0);
    health.failed('health', redisDown, 0);
    health.passed('health', 1000);
    health.failed('ready', redisDown, 2000);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(log).toHaveBeenCalledTimes(1);
  });
});
