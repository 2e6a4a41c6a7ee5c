import { DaemonStatus, WebhookEventType, type WebhookEvent } from '@arbor/gateway-client/protocol';
import { ReapOutcome, WebhookStore, webhookEvent, type PendingWebhook, type TransitionRecord } from './webhook-store.js';

/**
 * One instance's webhook state. Transitions happen here in order, so no presence check is needed;
 * the outbox lives as long as the process (a restart loses what it held — Redis keeps it).
 */
export class InMemoryWebhookStore extends WebhookStore {
  private readonly daemons = new Map<string, { status: DaemonStatus; transition: number; epoch: number }>();
  private readonly outbox = new Map<string, { pending: PendingWebhook; dueAt: number }>();

  async record(record: TransitionRecord): Promise<WebhookEvent | undefined> {
    const state = this.daemons.get(record.daemonId) ?? { status: DaemonStatus.Offline, transition: 0, epoch: record.at };
    if (record.type !== WebhookEventType.Replaced && state.status === record.status) return undefined;
    state.status = record.status;
    state.transition += 1;
    this.daemons.set(record.daemonId, state);
    return webhookEvent(record, state.epoch, state.transition);
  }

  async reap(): Promise<{ outcome: ReapOutcome }> {
    return { outcome: ReapOutcome.Settled };
  }

  async enqueue(event: WebhookEvent, now: number): Promise<void> {
    if (this.outbox.has(event.id)) return;
    this.outbox.set(event.id, { pending: { event, body: JSON.stringify(event), firstAt: now, attempts: 0 }, dueAt: now });
  }

  async claim(now: number, leaseMs: number, max: number): Promise<PendingWebhook[]> {
    const due = [...this.outbox.values()]
      .filter((entry) => entry.dueAt <= now)
      .sort((a, b) => a.dueAt - b.dueAt)
      .slice(0, max);
    for (const entry of due) entry.dueAt = now + leaseMs;
    return due.map((entry) => ({ ...entry.pending }));
  }

  async delivered(id: string): Promise<void> {
    this.outbox.delete(id);
  }

  async retryAt(pending: PendingWebhook, at: number): Promise<void> {
    const entry = this.outbox.get(pending.event.id);
    if (!entry) return;
    entry.pending = { ...pending, attempts: pending.attempts + 1 };
    entry.dueAt = at;
  }

  async drop(id: string): Promise<void> {
    this.outbox.delete(id);
  }

  async pending(): Promise<number> {
    return this.outbox.size;
  }

  async takeReapTurn(): Promise<boolean> {
    return false;
  }
}
