import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { CloseCode, formatRetryHint } from '@arbor/gateway-client/protocol';
import { GatewayConfig } from '../../config/gateway-config.js';
import { LifecycleState } from '../../lifecycle/lifecycle.state.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import type { Connection } from './connection.js';
import { ConnectionRegistry } from './connection-registry.js';

/** How long shutdown waits for peers to answer the close frame before terminating them. */
const SHUTDOWN_CLOSE_TIMEOUT_MS = 2_000;
/** The drain closes one batch of connections this often. */
const DRAIN_BATCH_EVERY_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * The drain on SIGTERM (Nest's adapter would terminate sockets without a close frame): refuse new
 * work at once, wait DRAIN_DELAY_MS for the load balancer to notice, then close every connection
 * with 1012 in batches spread over DRAIN_WINDOW_MS, each with a jittered retry hint, so the
 * reconnects land on other replicas without a spike. Replies owed go out before each close frame.
 * Daemons are handed over: they are not announced offline unless they fail to return.
 */
@Injectable()
export class DrainService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('DaemonGateway');
  private draining: Promise<void> | undefined;

  constructor(
    private readonly connections: ConnectionRegistry,
    private readonly lifecycle: LifecycleState,
    private readonly metrics: GatewayMetrics,
    private readonly config: GatewayConfig,
  ) {}

  drain(): Promise<void> {
    this.draining ??= this.run();
    return this.draining;
  }

  /** Nest is closing: finish (or run) the drain before it tears sockets and Redis down. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.drain();
  }

  private async run(): Promise<void> {
    this.lifecycle.beginShutdown();
    const { drainDelayMs, drainWindowMs } = this.config;
    this.logger.log({ msg: 'draining', connections: this.connections.size, drainDelayMs, drainWindowMs });
    await sleep(drainDelayMs);
    this.connections.stop();
    const connections = shuffle([...this.connections.connections()]);
    const closed = connections.map(
      (connection) => new Promise<void>((resolve) => (connection.isClosed ? resolve() : connection.socket.once('close', () => resolve()))),
    );
    this.metrics.draining.set(1);
    this.metrics.drainRemaining.set(connections.length);
    const batches = Math.max(1, Math.floor(drainWindowMs / DRAIN_BATCH_EVERY_MS));
    const perBatch = Math.ceil(connections.length / batches);
    for (let start = 0; start < connections.length; start += perBatch) {
      for (const connection of connections.slice(start, start + perBatch)) this.handOver(connection);
      this.metrics.drainRemaining.set(Math.max(0, connections.length - start - perBatch));
      if (start + perBatch < connections.length) await sleep(DRAIN_BATCH_EVERY_MS);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_CLOSE_TIMEOUT_MS)))]);
    clearTimeout(timer);
    for (const connection of connections) if (!connection.isClosed) connection.terminate();
    this.logger.log({ msg: 'drained', connections: connections.length });
  }

  private handOver(connection: Connection): void {
    connection.handover = true;
    connection.close(CloseCode.ServiceRestart, formatRetryHint('server draining', Math.random() * DRAIN_BATCH_EVERY_MS));
  }
}
