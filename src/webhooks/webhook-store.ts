import { createHash } from 'node:crypto';
import type { DaemonStatus, WebhookEvent } from '@arbor/gateway-client/protocol';

/** A transition to record: the status it leads to, and whether the daemon's presence must exist for it. */
export interface TransitionRecord {
  daemonId: string;
  type: WebhookEvent['type'];
  status: DaemonStatus;
  at: number;
}

/** What a departed instance's daemon turned out to be. */
export enum ReapOutcome {
  /** Still held by the departed instance (its presence has not expired yet): look again later. */
  Wait = 'wait',
  /** Taken over by another instance, or already offline: nothing to report. */
  Settled = 'settled',
  /** Reported offline now. */
  Offline = 'offline',
}

/** An event in the outbox, with its delivery state. */
export interface PendingWebhook {
  event: WebhookEvent;
  /** The exact body every attempt sends. */
  body: string;
  firstAt: number;
  attempts: number;
}

/**
 * The webhook state of a deployment: each daemon's transition counter (so each transition is
 * reported once, whichever instances saw it) and the outbox of events not yet delivered. Which
 * daemons a departed instance held is presence's (`HeldDaemons`).
 */
export abstract class WebhookStore {
  /**
   * Numbers the transition and returns its event, or undefined when it changes nothing (another
   * instance reported it already, or the presence contradicts it: an `offline` while the daemon is
   * connected somewhere, an `online` once it is gone).
   */
  abstract record(transition: TransitionRecord): Promise<WebhookEvent | undefined>;
  /** Reports a departed instance's daemon offline once its presence is gone. */
  abstract reap(daemonId: string, departedInstance: string, at: number): Promise<{ outcome: ReapOutcome; event?: WebhookEvent }>;
  /** Adds the event to the outbox (once per id), due at once. */
  abstract enqueue(event: WebhookEvent, now: number): Promise<void>;
  /** Up to `max` events due by `now`, each leased for `leaseMs` (another instance skips them meanwhile). */
  abstract claim(now: number, leaseMs: number, max: number): Promise<PendingWebhook[]>;
  abstract delivered(id: string): Promise<void>;
  abstract retryAt(pending: PendingWebhook, at: number): Promise<void>;
  abstract drop(id: string): Promise<void>;
  /** How many events wait in the outbox. */
  abstract pending(): Promise<number>;

  /** One instance at a time reaps a departed instance: true when this call took the turn. */
  abstract takeReapTurn(instanceId: string, reaper: string, ttlMs: number): Promise<boolean>;
}

/** The same id for every attempt of one transition. */
export function webhookId(daemonId: string, epoch: number, transition: number): string {
  return `wh_${createHash('sha256').update(`${daemonId}\u0000${epoch}\u0000${transition}`).digest('hex').slice(0, 32)}`;
}

export function webhookEvent(record: TransitionRecord, epoch: number, transition: number): WebhookEvent {
  return {
    id: webhookId(record.daemonId, epoch, transition),
    type: record.type,
    daemonId: record.daemonId,
    status: record.status,
    at: new Date(record.at).toISOString(),
    epoch,
    transition,
  };
}
