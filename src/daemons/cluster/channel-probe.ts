import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import type { RedisConnections } from '../../redis/redis-connections.js';

/** How often an instance measures its pub/sub round trip. */
const PROBE_EVERY_MS = 5_000;
/** How often a booting instance probes its own channel until it hears it (then it is ready). */
const BOOT_PROBE_EVERY_MS = 100;
/** Probes unanswered before its channels are subscribed again (2 s). */
const BOOT_RESUBSCRIBE_AFTER_PROBES = 20;
/** Probes unanswered before the subscriber connection is replaced (6 s): subscribing again did not help. */
const BOOT_RECONNECT_AFTER_PROBES = 60;
/** After boot: probes in a row unanswered while Redis is up (30 s) before the subscriber is replaced. */
const RUNNING_REPLACE_AFTER_PROBES = 6;

/**
 * An instance's probes of its own channel: at boot until it hears one (readiness waits on it;
 * a subscriber that stays deaf is subscribed again, then replaced), and every few seconds after
 * for the pub/sub lag metric and to notice a subscriber gone deaf later (it is replaced: messages
 * routed to this instance would otherwise be lost until a restart).
 */
export class ChannelProbe {
  private probeTimer: NodeJS.Timeout | undefined;
  private bootTimer: NodeJS.Timeout | undefined;
  /** Periodic probes sent while Redis was up and not answered since. */
  private unanswered = 0;

  constructor(
    private readonly redis: RedisConnections,
    /** Publishes one probe; failures are the caller's to report. */
    private readonly publish: (at: number) => void,
    private readonly metrics?: GatewayMetrics,
  ) {}

  start(): void {
    // Neither timer keeps a process alive on its own: the server (or a test) decides that.
    this.probeTimer = setInterval(() => this.probeRunning(), PROBE_EVERY_MS).unref();
    let unheard = 0;
    this.bootTimer = setInterval(() => {
      if (this.redis.ownChannelHeard) return clearInterval(this.bootTimer);
      this.probe();
      if (!this.redis.isReady) return;
      unheard += 1;
      // Still deaf after a while: subscribe again rather than wait on an answer that may never come,
      // and if that does not help either, start over with a new subscriber connection.
      if (unheard % BOOT_RECONNECT_AFTER_PROBES === 0) this.redis.reconnectSubscriber();
      else if (unheard % BOOT_RESUBSCRIBE_AFTER_PROBES === 0) this.redis.resubscribeAll();
    }, BOOT_PROBE_EVERY_MS).unref();
  }

  stop(): void {
    clearInterval(this.probeTimer);
    clearInterval(this.bootTimer);
  }

  /** A probe of ours came back: the channel is heard, and the round trip is the lag. */
  heard(at: number): void {
    this.unanswered = 0;
    this.redis.heardOwnChannelMessage();
    this.metrics?.pubsubLag.set((Date.now() - at) / 1000);
  }

  private probeRunning(): void {
    if (!this.redis.ownChannelHeard || !this.redis.isReady) return;
    if (this.unanswered >= RUNNING_REPLACE_AFTER_PROBES) {
      this.unanswered = 0;
      this.redis.reconnectSubscriber();
      return;
    }
    this.unanswered += 1;
    this.probe();
  }

  private probe(): void {
    if (this.redis.isReady) this.publish(Date.now());
  }
}
