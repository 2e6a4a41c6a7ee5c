import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { CloseCode } from '@arbor/gateway-client/protocol';
import { GatewayConfig } from '../../config/gateway-config.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';

/** What the monitor needs of a connection (the transport's Connection is one). */
export interface Consumer {
  readonly id: string;
  readonly bufferedAmount: number;
  readonly isOpen: boolean;
  readonly isClosed: boolean;
  close(code: CloseCode, reason: string): void;
  terminate(): void;
}

/** At least this long to read the close frame before the socket is torn down. */
const CLOSE_FRAME_GRACE_MS = 5_000;

/**
 * Bounds each connection's outbound buffer. A peer over MAX_BUFFERED_BYTES for
 * SLOW_CONSUMER_GRACE_MS is closed with 4008 (retryable: it resumes from its position); if it
 * does not even read its close frame within another grace period (at least 5 s), it is
 * terminated, so a reader that stopped reading never holds more than the bound for long. Other
 * peers are not slowed.
 */
@Injectable()
export class SlowConsumerMonitor implements OnModuleDestroy {
  private readonly logger = new Logger(SlowConsumerMonitor.name);
  private readonly overSince = new Map<Consumer, number>();
  private readonly closing = new Map<Consumer, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
  ) {}

  get maxBufferedBytes(): number {
    return this.config.maxBufferedBytes;
  }

  /**
   * A lagging peer is not waited for past this: a burst must not become memory. As much as a
   * daemon's whole healthy audience may hold (FANOUT_MAX_BUFFERED_BYTES), at least twice the bound.
   */
  get hardLimitBytes(): number {
    return Math.max(this.config.maxBufferedBytes * 2, this.config.fanoutMaxBufferedBytes);
  }

  /** Closes a peer at once (its buffer is past the hard limit); it resumes from its position. */
  cut(connection: Consumer): void {
    if (this.closing.has(connection)) return;
    this.overSince.delete(connection);
    this.startClosing(connection, Date.now());
    this.watch();
  }

  /** Called by a connection whose buffer went over the bound. */
  overLimit(connection: Consumer): void {
    if (this.overSince.has(connection) || this.closing.has(connection)) return;
    this.overSince.set(connection, Date.now());
    this.watch();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Checks the watched connections a few times per grace period while any are watched. */
  private watch(): void {
    this.timer ??= setInterval(() => this.check(), Math.max(10, Math.min(250, Math.floor(this.config.slowConsumerGraceMs / 4))));
  }

  private startClosing(connection: Consumer, now: number): void {
    this.closing.set(connection, now);
    this.metrics.slowConsumerCloses.inc();
    this.logger.warn({ msg: 'closing slow consumer', connectionId: connection.id, bufferedBytes: connection.bufferedAmount });
    connection.close(CloseCode.SlowConsumer, 'slow consumer');
  }

  private check(now = Date.now()): void {
    for (const [connection, since] of this.overSince) {
      if (!connection.isOpen || connection.bufferedAmount <= this.config.maxBufferedBytes) {
        this.overSince.delete(connection);
      } else if (now - since >= this.config.slowConsumerGraceMs) {
        this.overSince.delete(connection);
        this.startClosing(connection, now);
      }
    }
    for (const [connection, since] of this.closing) {
      if (connection.isClosed) this.closing.delete(connection);
      else if (now - since >= Math.max(this.config.slowConsumerGraceMs, CLOSE_FRAME_GRACE_MS)) {
        this.closing.delete(connection);
        connection.terminate();
      }
    }
    if (this.overSince.size === 0 && this.closing.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
