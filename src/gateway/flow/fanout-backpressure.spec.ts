import { GatewayConfig } from '../../config/gateway-config.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { FanoutBackpressure, type FanoutBudget, type FanoutPeer } from './fanout-backpressure.js';
import { PauseReason } from './pause-reason.js';

/** A connection as backpressure sees it, with its buffer set by the test. */
class Peer implements FanoutPeer {
  bufferedAmount = 0;
  fanoutBudget: FanoutBudget | undefined;
  fanoutDaemonBudget: FanoutBudget | undefined;
  paused = false;
  constructor(
    readonly id: string,
    readonly identity = { daemonId: 'd1' },
  ) {}
  pauseReads(reason: PauseReason): void {
    expect(reason).toBe(PauseReason.Backpressure);
    this.paused = true;
  }
  resumeReads(reason: PauseReason): void {
    expect(reason).toBe(PauseReason.Backpressure);
    this.paused = false;
  }
}

const KB = 1024;

describe('FanoutBackpressure', () => {
  // Each viewer counts for at most 64 KiB; the daemon pauses past 256 KiB held by its viewers.
  const config = GatewayConfig.load({ MAX_BUFFERED_BYTES: String(64 * KB), FANOUT_MAX_BUFFERED_BYTES: String(256 * KB) });
  let fanout: FanoutBackpressure;
  let metrics: GatewayMetrics;
  let daemon: Peer;
  let viewers: Peer[];

  beforeEach(() => {
    metrics = new GatewayMetrics();
    fanout = new FanoutBackpressure(config, metrics);
    daemon = new Peer('daemon');
    fanout.attachDaemon(daemon);
    viewers = Array.from({ length: 8 }, (_, i) => new Peer(`v${i}`));
    for (const viewer of viewers) fanout.addViewer(viewer);
  });

  afterEach(() => fanout.onModuleDestroy());

  /** What Connection.send does for each frame written to a viewer. */
  function write(viewer: Peer, bytes: number): void {
    viewer.bufferedAmount += bytes;
    viewer.fanoutBudget!.writtenSince += bytes;
  }

  it('pauses the daemon once its viewers hold more than the bound, and resumes it below half', async () => {
    for (const viewer of viewers) write(viewer, 30 * KB);
    fanout.afterDaemonFrame(daemon);
    expect(daemon.paused).toBe(false);
    for (const viewer of viewers) write(viewer, 10 * KB);
    fanout.afterDaemonFrame(daemon);
    expect(daemon.paused).toBe(true);
    // Viewers read: the 2 ms poll sees them below half the bound and lets the daemon go on.
    for (const viewer of viewers) viewer.bufferedAmount = 10 * KB;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(daemon.paused).toBe(false);
    expect(await metrics.registry.getSingleMetricAsString('arbor_daemon_pauses_total')).toContain('arbor_daemon_pauses_total 1');
  });

  it('one slow viewer alone never holds the daemon: it counts for at most MAX_BUFFERED_BYTES', () => {
    write(viewers[0], 10_000 * KB);
    fanout.afterDaemonFrame(daemon);
    expect(daemon.paused).toBe(false);
  });

  it('a daemon leaving while paused is let go, and its budget is forgotten with its last viewer', () => {
    for (const viewer of viewers) write(viewer, 64 * KB);
    fanout.afterDaemonFrame(daemon);
    expect(daemon.paused).toBe(true);
    fanout.detachDaemon(daemon);
    expect(daemon.paused).toBe(false);
    for (const viewer of viewers) fanout.removeViewer(viewer);
    const fresh = new Peer('next');
    fanout.attachDaemon(fresh);
    expect(fresh.fanoutDaemonBudget?.viewers.size).toBe(0);
  });
});
