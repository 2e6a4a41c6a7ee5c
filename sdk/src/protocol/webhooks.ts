/** Webhooks: the HTTP POSTs the gateway sends the app's backend on daemon transitions. */

import type { DaemonStatus } from './frames.js';

// ---- webhooks (HTTP, gateway → the app's backend) ----------------------------------------------

/** The daemon transitions a webhook reports; WEBHOOK_EVENTS filters by these names. */
export enum WebhookEventType {
  Online = 'daemon.online',
  Stale = 'daemon.stale',
  Offline = 'daemon.offline',
  Replaced = 'daemon.replaced',
}

/** The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. */
export const WEBHOOK_SIGNATURE_HEADER = 'Arbor-Signature';

/** Receivers reject a signature older than this (seconds): a replayed request is refused. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * One webhook POST body. A daemon's transitions are ordered by (`epoch`, `transition`): sort by
 * `epoch`, then `transition`, and drop one older than the last applied; `id` is the same on every
 * retry of one event.
 */
export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  daemonId: string;
  status: DaemonStatus;
  /** When the transition happened (ISO-8601). */
  at: string;
  /** When this daemon's transition counter started (ms since the epoch); a new counter has a larger one. */
  epoch: number;
  /** This daemon's transition number within `epoch`, from 1, without gaps (but those WEBHOOK_EVENTS filters out). */
  transition: number;
}
