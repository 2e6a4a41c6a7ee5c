import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import { DaemonStatus, WEBHOOK_SIGNATURE_HEADER, WebhookEventType, type WebhookEvent } from '@arbor/gateway-client/protocol';
import { GatewayConfig } from '../config/gateway-config.js';
import { DaemonService } from '../daemons/daemon.service.js';
import { TransitionKind, type DaemonTransition } from '../daemons/daemon-transition.js';
import { HeldDaemons } from '../daemons/presence/held-daemons.js';
import { InstanceRegistry } from '../instances/instance-registry.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { ReapOutcome, WebhookStore, type PendingWebhook } from './webhook-store.js';

/** How often the outbox is looked at (new events also kick it at once). */
const DELIVER_EVERY_MS = 500;
/** Attempts in flight at once per instance: a slow receiver holds at most this many requests. */
const MAX_IN_FLIGHT = 8;
/** The first retry waits about this long, each further one twice as long, up to WEBHOOK_RETRY_MAX_MS. */
const FIRST_RETRY_MS = 1_000;
/** How often departed instances are looked for. */
const REAP_EVERY_MS = 2_000;

const KINDS: Record<TransitionKind, { type: WebhookEventType; status: DaemonStatus }> = {
  [TransitionKind.Online]: { type: WebhookEventType.Online, status: DaemonStatus.Online },
  [TransitionKind.Stale]: { type: WebhookEventType.Stale, status: DaemonStatus.Stale },
  [TransitionKind.Offline]: { type: WebhookEventType.Offline, status: DaemonStatus.Offline },
  [TransitionKind.Replaced]: { type: WebhookEventType.Replaced, status: DaemonStatus.Online },
};

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function signature(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;
}

/**
 * Daemon transitions → signed webhooks. Each transition is numbered once for the deployment (the
 * store checks it against the daemon's presence), queued in the outbox, and POSTed by whichever
 * instance leases it, retried with backoff until WEBHOOK_MAX_AGE_MS. A departed instance's daemons
 * are reported offline by another instance once their presence expires.
 */
@Injectable()
export class WebhookService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Webhooks');
  private readonly settings: NonNullable<GatewayConfig['webhook']>;
  private deliverTimer: NodeJS.Timeout | undefined;
  private reapTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private delivering = false;
  private stopped = false;

  constructor(
    config: GatewayConfig,
    private readonly store: WebhookStore,
    private readonly daemons: DaemonService,
    private readonly registry: InstanceRegistry,
    private readonly metrics: GatewayMetrics,
    private readonly held: HeldDaemons,
  ) {
    this.settings = config.webhook!;
  }

  onModuleInit(): void {
    this.metrics.enableWebhooks();
    this.daemons.onTransition((transition) => void this.transitioned(transition));
    this.deliverTimer = setInterval(() => void this.deliver(), DELIVER_EVERY_MS);
    this.reapTimer = setInterval(() => void this.reap(), REAP_EVERY_MS);
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearInterval(this.deliverTimer);
    clearInterval(this.reapTimer);
  }

  private async transitioned(transition: DaemonTransition): Promise<void> {
    const { type, status } = KINDS[transition.kind];
    try {
      const event = await this.store.record({ daemonId: transition.daemonId, type, status, at: transition.at });
      if (event) await this.queue(event);
    } catch (error) {
      this.metrics.webhooks.labels('unrecorded').inc();
      this.logger.warn({ msg: 'webhook transition not recorded', daemonId: transition.daemonId, type, error: (error as Error).message });
    }
  }

  private async queue(event: WebhookEvent): Promise<void> {
    if (!this.settings.events.has(event.type)) return;
    await this.store.enqueue(event, Date.now());
    this.metrics.webhooks.labels('recorded').inc();
    void this.deliver();
  }

  /** Leases what is due and sends it; never waits for a receiver before returning to its caller. */
  private async deliver(): Promise<void> {
    if (this.delivering || this.stopped) return;
    this.delivering = true;
    try {
      const room = MAX_IN_FLIGHT - this.inFlight;
      if (room <= 0) return;
      const now = Date.now();
      const due = await this.store.claim(now, this.settings.timeoutMs + 5_000, room);
      for (const pending of due) {
        this.inFlight += 1;
        void this.attempt(pending).finally(() => {
          this.inFlight -= 1;
        });
      }
      this.metrics.webhookPending.set(await this.store.pending());
    } catch (error) {
      this.logger.debug({ msg: 'webhook outbox unavailable', error: (error as Error).message });
    } finally {
      this.delivering = false;
    }
  }

  private async attempt(pending: PendingWebhook): Promise<void> {
    const { event } = pending;
    let outcome: string;
    try {
      const response = await fetch(this.settings.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'arbor-gateway-webhooks',
          [WEBHOOK_SIGNATURE_HEADER]: signature(this.settings.secret, pending.body, Math.floor(Date.now() / 1000)),
        },
        body: pending.body,
        signal: AbortSignal.timeout(this.settings.timeoutMs),
        redirect: 'manual',
      });
      await response.body?.cancel();
      if (response.ok) {
        await this.store.delivered(event.id);
        this.metrics.webhooks.labels('delivered').inc();
        return;
      }
      outcome = `status ${response.status}`;
    } catch (error) {
      outcome = (error as Error).name === 'TimeoutError' ? 'timed out' : (error as Error).message;
    }
    await this.failed(pending, outcome).catch(() => undefined);
  }

  private async failed(pending: PendingWebhook, outcome: string): Promise<void> {
    const now = Date.now();
    const { event } = pending;
    if (now - pending.firstAt >= this.settings.maxAgeMs) {
      await this.store.drop(event.id);
      this.metrics.webhooks.labels('dropped').inc();
      this.logger.warn({
        msg: 'webhook dropped',
        id: event.id,
        type: event.type,
        daemonId: event.daemonId,
        attempts: pending.attempts + 1,
        lastOutcome: outcome,
      });
      return;
    }
    // Full jitter over an exponential ceiling: a receiver coming back is not hit by every instance at once.
    const ceiling = Math.min(this.settings.retryMaxMs, FIRST_RETRY_MS * 2 ** pending.attempts);
    const at = Math.min(now + ceiling / 2 + Math.random() * (ceiling / 2), pending.firstAt + this.settings.maxAgeMs);
    await this.store.retryAt(pending, at);
    this.metrics.webhooks.labels('retried').inc();
    this.logger.log({
      msg: 'webhook delivery failed; will retry',
      id: event.id,
      type: event.type,
      attempts: pending.attempts + 1,
      outcome,
      retryInMs: Math.round(at - now),
    });
  }

  /** Reports the daemons of instances that stopped beating offline, once their presence is gone. */
  private async reap(): Promise<void> {
    if (this.stopped) return;
    try {
      for (const departed of await this.registry.departed()) {
        if (!(await this.store.takeReapTurn(departed.instanceId, this.registry.instanceId, REAP_EVERY_MS * 2))) continue;
        let waiting = 0;
        for (const daemonId of await this.held.heldBy(departed.instanceId)) {
          const { outcome, event } = await this.store.reap(daemonId, departed.instanceId, Date.now());
          if (outcome === ReapOutcome.Wait) {
            waiting += 1;
            continue;
          }
          if (event) await this.queue(event);
          await this.held.release(departed.instanceId, daemonId);
        }
        if (waiting === 0) {
          await this.held.forgetInstance(departed.instanceId);
          await this.registry.forget(departed.instanceId);
          this.logger.log({ msg: 'departed instance settled', instanceId: departed.instanceId });
        }
      }
    } catch (error) {
      this.logger.debug({ msg: 'reap skipped', error: (error as Error).message });
    }
  }
}
