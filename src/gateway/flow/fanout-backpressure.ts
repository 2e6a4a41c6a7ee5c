import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { GatewayConfig } from '../../config/gateway-config.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { PauseReason } from './pause-reason.js';

/** While a daemon is paused, its viewers' buffers are measured this often. */
const RESUME_POLL_MS = 2;

/** What backpressure needs of a connection (the transport's Connection is one). */
export interface FanoutPeer {
  readonly id: string;
  readonly identity: { readonly daemonId: string };
  readonly bufferedAmount: number;
  /** As a viewer: its daemon's budget here. As a daemon: its own. */
  fanoutBudget: FanoutBudget | undefined;
  fanoutDaemonBudget: FanoutBudget | undefined;
  pauseReads(reason: PauseReason): void;
  resumeReads(reason: PauseReason): void;
}

/** One daemon's viewers on this instance and what they have buffered. */
export class FanoutBudget {
  readonly viewers = new Set<FanoutPeer>();
  daemon: FanoutPeer | undefined;
  /** Bytes written to viewers since `lastTotal` was measured: buffers can only have grown by this much. */
  writtenSince = 0;
  lastTotal = 0;
  pausedAt: number | undefined;

  constructor(readonly daemonId: string) {}

  /**
   * What the viewers hold, each counted up to MAX_BUFFERED_BYTES: past that a viewer is the
   * slow-consumer rule's, and one viewer alone can never hold the daemon (the bound is larger).
   */
  measure(maxPerViewer: number): number {
    let total = 0;
    for (const viewer of this.viewers) total += Math.min(viewer.bufferedAmount, maxPerViewer);
    this.lastTotal = total;
    this.writtenSince = 0;
    return total;
  }
}

/**
 * Backpressure from a daemon's viewers to the daemon: when the bytes buffered for its viewers pass
 * FANOUT_MAX_BUFFERED_BYTES, the gateway stops reading that daemon (frames already read wait,
 * unparsed), so the daemon's own send buffer fills instead of the gateway's heap. It reads again
 * once the viewers are below half the bound. One slow viewer does not hold the others back: it
 * counts for at most MAX_BUFFERED_BYTES (less than the bound), and the slow-consumer rule (4008)
 * takes it.
 */
@Injectable()
export class FanoutBackpressure implements OnModuleDestroy {
  private readonly logger = new Logger(FanoutBackpressure.name);
  private readonly budgets = new Map<string, FanoutBudget>();
  private readonly paused = new Set<FanoutBudget>();
  private pollTimer: NodeJS.Timeout | undefined;
  /** The most one daemon's viewers held (as counted) at any check, for the gauge. */
  private peak = 0;

  constructor(
    private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
  ) {
    metrics.sources.fanoutBufferedPeak = () => this.peak;
    metrics.sources.fanoutBuffered = () => {
      let total = 0;
      for (const budget of this.budgets.values()) total += budget.measure(this.config.maxBufferedBytes);
      return total;
    };
  }

  addViewer(connection: FanoutPeer): void {
    const budget = this.budgetOf(connection.identity.daemonId);
    budget.viewers.add(connection);
    connection.fanoutBudget = budget;
  }

  removeViewer(connection: FanoutPeer): void {
    const budget = this.budgets.get(connection.identity.daemonId);
    if (!budget) return;
    budget.viewers.delete(connection);
    this.forgetIfUnused(budget);
  }

  attachDaemon(connection: FanoutPeer): void {
    const budget = this.budgetOf(connection.identity.daemonId);
    budget.daemon = connection;
    connection.fanoutDaemonBudget = budget;
  }

  detachDaemon(connection: FanoutPeer): void {
    const budget = this.budgets.get(connection.identity.daemonId);
    if (budget?.daemon !== connection) return;
    this.endPause(budget);
    budget.daemon = undefined;
    this.forgetIfUnused(budget);
  }

  /** After each frame of a daemon: pause it if its viewers are over the bound. */
  afterDaemonFrame(connection: FanoutPeer): void {
    const budget = connection.fanoutDaemonBudget;
    if (!budget || budget.pausedAt !== undefined) return;
    const max = this.config.fanoutMaxBufferedBytes;
    // Cheap bound first: buffers only shrink between measurements, except by what was written.
    if (budget.lastTotal + budget.writtenSince <= max) return;
    const total = budget.measure(this.config.maxBufferedBytes);
    if (total > this.peak) this.peak = total;
    if (total <= max) return;
    budget.pausedAt = performance.now();
    this.paused.add(budget);
    connection.pauseReads(PauseReason.Backpressure);
    this.metrics.fanoutPauses.inc();
    this.logger.debug({ msg: 'daemon paused: viewers backed up', connectionId: connection.id, bufferedBytes: total });
    this.pollTimer ??= setInterval(() => this.poll(), RESUME_POLL_MS);
  }

  onModuleDestroy(): void {
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private poll(): void {
    const lowWater = this.config.fanoutMaxBufferedBytes / 2;
    for (const budget of this.paused) {
      if (budget.measure(this.config.maxBufferedBytes) <= lowWater) this.endPause(budget);
    }
    if (this.paused.size === 0) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
    }
  }

  private endPause(budget: FanoutBudget): void {
    if (budget.pausedAt === undefined) return;
    this.metrics.fanoutPausedSeconds.inc((performance.now() - budget.pausedAt) / 1000);
    budget.pausedAt = undefined;
    this.paused.delete(budget);
    budget.daemon?.resumeReads(PauseReason.Backpressure);
  }

  private budgetOf(daemonId: string): FanoutBudget {
    let budget = this.budgets.get(daemonId);
    if (!budget) {
      budget = new FanoutBudget(daemonId);
      this.budgets.set(daemonId, budget);
    }
    return budget;
  }

  private forgetIfUnused(budget: FanoutBudget): void {
    if (budget.viewers.size === 0 && !budget.daemon) this.budgets.delete(budget.daemonId);
  }
}
