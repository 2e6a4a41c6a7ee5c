import { jest } from '@jest/globals';
import { CloseCode } from '@arbor/gateway-client/protocol';
import { GatewayConfig } from '../../config/gateway-config.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { SlowConsumerMonitor, type Consumer } from './slow-consumer.monitor.js';

/** A connection as the monitor sees it, with its buffer set by the test. */
class Reader implements Consumer {
  bufferedAmount = 0;
  isOpen = true;
  isClosed = false;
  closedWith: CloseCode | undefined;
  terminated = false;
  constructor(readonly id: string) {}
  close(code: CloseCode): void {
    this.closedWith = code;
  }
  terminate(): void {
    this.terminated = true;
    this.isOpen = false;
    this.isClosed = true;
  }
}

describe('SlowConsumerMonitor', () => {
  const config = GatewayConfig.load({ MAX_BUFFERED_BYTES: '2048', SLOW_CONSUMER_GRACE_MS: '1000', FANOUT_MAX_BUFFERED_BYTES: '65536' });
  let monitor: SlowConsumerMonitor;

  beforeEach(() => {
    jest.useFakeTimers();
    monitor = new SlowConsumerMonitor(config, new GatewayMetrics());
  });

  afterEach(() => {
    monitor.onModuleDestroy();
    jest.useRealTimers();
  });

  it('closes a reader still over the bound after the grace with 4008, and terminates it if it never reads its close frame', () => {
    const reader = new Reader('r');
    reader.bufferedAmount = 3000;
    monitor.overLimit(reader);
    jest.advanceTimersByTime(900);
    expect(reader.closedWith).toBeUndefined();
    jest.advanceTimersByTime(400);
    expect(reader.closedWith).toBe(CloseCode.SlowConsumer);
    // At least 5 s to read its close frame before the socket is torn down.
    jest.advanceTimersByTime(4500);
    expect(reader.terminated).toBe(false);
    jest.advanceTimersByTime(1000);
    expect(reader.terminated).toBe(true);
  });

  it('leaves a reader that catches up within the grace alone', () => {
    const reader = new Reader('r');
    reader.bufferedAmount = 3000;
    monitor.overLimit(reader);
    jest.advanceTimersByTime(500);
    reader.bufferedAmount = 10;
    jest.advanceTimersByTime(2000);
    expect(reader.closedWith).toBeUndefined();
  });

  it('cuts at once past the hard limit, which is at least twice the bound and at least FANOUT_MAX_BUFFERED_BYTES', () => {
    expect(monitor.hardLimitBytes).toBe(65536);
    const reader = new Reader('r');
    monitor.cut(reader);
    monitor.cut(reader);
    expect(reader.closedWith).toBe(CloseCode.SlowConsumer);
  });
});
