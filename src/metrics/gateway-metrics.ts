import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { tracing } from '../tracing/tracing.js';
import { ClientMessageType, CloseCode, DaemonMessageType, DaemonStatus, ErrorCode, Role, ServerMessageType } from '@arbor/gateway-client/protocol';
import { FastHistogram } from './fast-histogram.js';

/** Label values are drawn from these sets only: never a daemon id, user id or other unbounded value. */
const MESSAGE_TYPES = new Set<string>([
  ...Object.values(ClientMessageType),
  ...Object.values(DaemonMessageType),
  ...Object.values(ServerMessageType),
  'invalid',
  'binary',
]);
const CLOSE_CODES = new Set<string>(
  Object.values(CloseCode)
    .filter((value) => typeof value === 'number')
    .map(String),
);
const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

export const messageTypeLabel = (type: string) => (MESSAGE_TYPES.has(type) ? type : 'other');
export const closeCodeLabel = (code: number) => (CLOSE_CODES.has(String(code)) ? String(code) : 'other');
export const reasonLabel = (code: string) => (ERROR_CODES.has(code) ? code : 'other');

/**
 * Every Prometheus metric the gateway exports, in one registry. Hot paths use pre-labelled
 * children, so counting a message is an increment, not a label lookup.
 */
@Injectable()
export class GatewayMetrics {
  readonly registry = new Registry();

  readonly connections = new Gauge({ name: 'arbor_connections', help: 'Open WebSocket connections', labelNames: ['role'], registers: [this.registry] });
  readonly connects = new Counter({ name: 'arbor_connects_total', help: 'Admitted WebSocket connections', labelNames: ['role'], registers: [this.registry] });
  readonly disconnects = new Counter({
    name: 'arbor_disconnects_total',
    help: 'Closed WebSocket connections by close code',
    labelNames: ['role', 'code'],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'arbor_auth_failures_total',
    help: 'Refused connections by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly messagesIn: Counter<'type'> = new Counter({
    name: 'arbor_messages_in_total',
    help: 'Frames received, by type',
    labelNames: ['type'],
    registers: [this.registry],
    collect: () => this.flushIn(),
  });
  readonly messagesOut: Counter<'type'> = new Counter({
    name: 'arbor_messages_out_total',
    help: 'Frames delivered, by type (a fan-out counts each recipient)',
    labelNames: ['type'],
    registers: [this.registry],
    collect: () => this.flushOut(),
  });
  readonly bytesIn: Counter = new Counter({
    name: 'arbor_received_bytes_total',
    help: 'Frame bytes received',
    registers: [this.registry],
    collect: () => this.flushIn(),
  });
  readonly bytesOut: Counter = new Counter({
    name: 'arbor_sent_bytes_total',
    help: 'Frame bytes sent (a fan-out counts each recipient)',
    registers: [this.registry],
    collect: () => this.flushOut(),
  });
  readonly fanoutLatency = new FastHistogram(
    'arbor_fanout_duration_seconds',
    'From a daemon event received to its last local client write',
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
  );
  readonly coalescedFrames = new FastHistogram(
    'arbor_coalesced_frames_per_write',
    'Frames written to one socket in one write (per-turn coalescing)',
    [1, 2, 4, 8, 16, 32, 64],
  );
  /** Read at scrape time from whoever owns the numbers (set by the gateway and the backpressure). */
  readonly sources = {
    fanoutBuffered: () => 0,
    fanoutBufferedPeak: () => 0,
    outboundBuffered: () => 0,
    incompleteRequests: () => 0,
    daemons: (): Record<DaemonStatus, number> => ({ [DaemonStatus.Online]: 0, [DaemonStatus.Stale]: 0, [DaemonStatus.Offline]: 0 }),
    ready: () => 1,
  };
  readonly ready: Gauge = new Gauge({
    name: 'arbor_ready',
    help: '1 while /health/ready would answer 200, 0 while it would answer 503',
    registers: [this.registry],
    collect: () => this.ready.set(this.sources.ready()),
  });
  readonly commandAcks = new Counter({
    name: 'arbor_command_acks_total',
    help: 'Command acks by status: accepted, duplicate (a repeated id, not forwarded again), daemon_offline',
    labelNames: ['status'],
    registers: [this.registry],
  });
  /**
   * With tracing on, each bucket keeps the trace id of its latest traced sample (an exemplar), and
   * the registry speaks OpenMetrics, the only format that carries exemplars.
   */
  private readonly exemplars = tracing.on;
  readonly commandDuration = new Histogram({
    name: 'arbor_command_duration_seconds',
    help: 'From a command received (client or server API) to its hand-off to the daemon, or to its instance through Redis',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    enableExemplars: this.exemplars && this.useOpenMetrics(),
    registers: [this.registry],
  });
  readonly incompleteRequests: Gauge = new Gauge({
    name: 'arbor_incomplete_requests',
    help: 'Connections whose first HTTP request (an upgrade, say) has not fully arrived yet',
    registers: [this.registry],
    collect: () => this.incompleteRequests.set(this.sources.incompleteRequests()),
  });
  readonly incompleteRequestsRefused = new Counter({
    name: 'arbor_incomplete_requests_refused_total',
    help: 'New connections refused with 503 because MAX_INCOMPLETE_REQUESTS sockets were still sending their first request, none of them stalled',
    registers: [this.registry],
  });
  readonly incompleteRequestsShed = new Counter({
    name: 'arbor_incomplete_requests_shed_total',
    help: 'Stalled sockets (first request incomplete for half HTTP_HEADERS_TIMEOUT_MS) closed with 408 to make room for new ones past a cap',
    registers: [this.registry],
  });
  readonly fanoutBuffered: Gauge = new Gauge({
    name: 'arbor_fanout_buffered_bytes',
    help: 'Bytes buffered for viewers of daemons on this instance, each counted up to MAX_BUFFERED_BYTES (what backpressure bounds)',
    registers: [this.registry],
    collect: () => this.fanoutBuffered.set(this.sources.fanoutBuffered()),
  });
  readonly fanoutBufferedPeak: Gauge = new Gauge({
    name: 'arbor_fanout_buffered_peak_bytes',
    help: "The most one daemon's viewers held (as counted) at any backpressure check; bounded by FANOUT_MAX_BUFFERED_BYTES",
    registers: [this.registry],
    collect: () => this.fanoutBufferedPeak.set(this.sources.fanoutBufferedPeak()),
  });
  readonly outboundBuffered: Gauge = new Gauge({
    name: 'arbor_outbound_buffered_bytes',
    help: 'Bytes buffered for all connections on this instance, not yet written to the network',
    registers: [this.registry],
    collect: () => this.outboundBuffered.set(this.sources.outboundBuffered()),
  });
  /** The largest buffer any one connection had when a frame was queued for it. */
  bufferedPeak = 0;
  readonly connectionBufferedPeak: Gauge = new Gauge({
    name: 'arbor_connection_buffered_peak_bytes',
    help: 'The most one connection had buffered when a frame was queued for it (bounded by the slow-consumer hard limit)',
    registers: [this.registry],
    collect: () => this.connectionBufferedPeak.set(this.bufferedPeak),
  });
  readonly fanoutPauses = new Counter({
    name: 'arbor_daemon_pauses_total',
    help: "Times a daemon's reads were paused because its viewers were backed up",
    registers: [this.registry],
  });
  readonly fanoutPausedSeconds = new Counter({
    name: 'arbor_daemon_paused_seconds_total',
    help: 'Time daemons spent paused for their viewers',
    registers: [this.registry],
  });
  readonly replays = new Counter({ name: 'arbor_replay_total', help: 'Resuming clients by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly liveResyncs = new Counter({
    name: 'arbor_live_resync_total',
    help: 'resync-required sent to live watchers of a daemon (its epoch changed, or a gap could not be filled from the history)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly slowConsumerCloses = new Counter({
    name: 'arbor_slow_consumer_closes_total',
    help: 'Connections closed with 4008 slow_consumer',
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'arbor_rate_limited_messages_total',
    help: "Frames over their connection's rate: refused with rate_limited (clients) or throttled by pausing reads (daemons)",
    labelNames: ['role'],
    registers: [this.registry],
  });
  readonly handshakeRefusals = new Counter({
    name: 'arbor_handshake_refusals_total',
    help: 'Upgrades refused before the WebSocket handshake, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly tokenRefreshes = new Counter({
    name: 'arbor_token_refreshes_total',
    help: 'refresh-token frames by outcome',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly authorizationCloses = new Counter({
    name: 'arbor_authorization_closes_total',
    help: 'Live connections closed because their authorization ended, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly daemons: Gauge<'status'> = new Gauge({
    name: 'arbor_daemons',
    help: 'Daemons seen from this instance by status (connected here, or watched here while offline)',
    labelNames: ['status'],
    registers: [this.registry],
    collect: () => {
      const counts = this.sources.daemons();
      for (const status of Object.values(DaemonStatus)) this.daemons.labels(status).set(counts[status]);
    },
  });
  readonly redisUp = new Gauge({ name: 'arbor_redis_up', help: '1 when both Redis connections are ready (absent without REDIS_URL)', registers: [] });
  readonly pubsubLag = new Gauge({
    name: 'arbor_redis_pubsub_lag_seconds',
    help: 'Round trip of a probe published to this instance through Redis pub/sub',
    registers: [],
  });
  readonly redisEvents = new Counter({
    name: 'arbor_redis_events_total',
    help: 'Redis connection events: reconnect (a connection came back), resubscribe (every wanted channel subscribed again), topology_change (a Cluster node added or lost: failovers, slot moves)',
    labelNames: ['event'],
    registers: [],
  });
  readonly gapFills = new Counter({
    name: 'arbor_gap_fills_total',
    help: 'Events pub/sub did not bring, looked up in the stream: filled, history_expired (not retained: resync-required), epoch_changed (resync-required)',
    labelNames: ['outcome'],
    registers: [],
  });
  readonly draining = new Gauge({ name: 'arbor_draining', help: '1 while this instance drains its connections', registers: [this.registry] });
  readonly drainRemaining = new Gauge({
    name: 'arbor_drain_remaining_connections',
    help: 'Connections the drain has yet to close',
    registers: [this.registry],
  });

  readonly webhooks = new Counter({
    name: 'arbor_webhooks_total',
    help: 'Webhook events: recorded (a transition numbered and queued), delivered (2xx), retried (an attempt failed), dropped (undelivered past WEBHOOK_MAX_AGE_MS), unrecorded (shared state unreachable when it happened)',
    labelNames: ['outcome'],
    registers: [],
  });
  readonly webhookPending = new Gauge({
    name: 'arbor_webhook_pending',
    help: 'Webhook events waiting in the outbox (the whole deployment’s, as this instance last read it)',
    registers: [],
  });

  private pendingIn = new Map<string, number>();
  private pendingInBytes = 0;
  /** Deliveries are counted in plain numbers on the hot path and moved into the counters at scrape. */
  private pendingOut = new Map<string, number>();
  private pendingOutBytes = 0;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // prom-client adds three totals as gauges with a counter's `_total` suffix, which promtool
    // refuses; the per-type gauges beside them (nodejs_active_handles, _requests, _resources) stay.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    // Every bounded label value from the start, so dashboards see zeros rather than no series.
    for (const role of Object.values(Role)) this.rateLimited.labels(role).inc(0);
    for (const reason of ['origin', 'instance_cap', 'user_cap', 'handshake_rate']) this.handshakeRefusals.labels(reason).inc(0);
    for (const outcome of ['ok', ErrorCode.Unauthorized, ErrorCode.Forbidden]) this.tokenRefreshes.labels(outcome).inc(0);
    for (const reason of ['expired', 'revoked', 'refresh_forbidden']) this.authorizationCloses.labels(reason).inc(0);
    for (const status of ['accepted', 'duplicate', 'daemon_offline']) this.commandAcks.labels(status).inc(0);
    // Series alerts and dashboards divide by exist from the start, at zero.
    for (const outcome of ['recovered', 'resync']) this.replays.labels(outcome).inc(0);
    for (const reason of ['epoch_changed', 'history_expired']) this.liveResyncs.labels(reason).inc(0);
    for (const reason of [ErrorCode.Unauthorized, ErrorCode.Forbidden, ErrorCode.BadRequest]) this.authFailures.labels(reason).inc(0);
    this.registry.registerMetric(this.fanoutLatency as never);
    this.registry.registerMetric(this.coalescedFrames as never);
  }

  /** Registers the Redis gauges: only instances configured with Redis export them. */
  enableRedis(): void {
    this.registry.registerMetric(this.redisUp);
    this.registry.registerMetric(this.pubsubLag);
    this.registry.registerMetric(this.redisEvents);
    this.registry.registerMetric(this.gapFills);
    for (const event of ['reconnect', 'resubscribe', 'topology_change']) this.redisEvents.labels(event).inc(0);
    for (const outcome of ['filled', 'history_expired', 'epoch_changed']) this.gapFills.labels(outcome).inc(0);
  }

  /** A command's time to hand-off, with the trace id of its span when it was traced. */
  observeCommand(seconds: number, exemplar: Record<string, string> | undefined): void {
    if (this.exemplars) this.commandDuration.observe({ value: seconds, exemplarLabels: exemplar });
    else this.commandDuration.observe(seconds);
  }

  private useOpenMetrics(): true {
    this.registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    return true;
  }

  /** Registers the webhook metrics: only instances with WEBHOOK_URL export them. */
  enableWebhooks(): void {
    this.registry.registerMetric(this.webhooks);
    this.registry.registerMetric(this.webhookPending);
    for (const outcome of ['recorded', 'delivered', 'retried', 'dropped', 'unrecorded']) this.webhooks.labels(outcome).inc(0);
  }

  received(type: string, bytes: number): void {
    this.pendingIn.set(type, (this.pendingIn.get(type) ?? 0) + 1);
    this.pendingInBytes += bytes;
  }

  private flushIn(): void {
    const pending = this.pendingIn;
    this.pendingIn = new Map();
    for (const [type, count] of pending) this.messagesIn.labels(messageTypeLabel(type)).inc(count);
    this.bytesIn.inc(this.pendingInBytes);
    this.pendingInBytes = 0;
  }

  /** One frame of `type` and `bytes` written to one peer. */
  sent(type: string, bytes: number): void {
    this.pendingOut.set(type, (this.pendingOut.get(type) ?? 0) + 1);
    this.pendingOutBytes += bytes;
  }

  private flushOut(): void {
    const pending = this.pendingOut;
    this.pendingOut = new Map();
    for (const [type, count] of pending) this.messagesOut.labels(messageTypeLabel(type)).inc(count);
    this.bytesOut.inc(this.pendingOutBytes);
    this.pendingOutBytes = 0;
  }
}
