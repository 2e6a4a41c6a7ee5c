import { Injectable, Logger } from '@nestjs/common';
import type { HealthIndicatorResult } from '@nestjs/terminus';

/** While the same checks of a probe keep failing, one reminder per this interval. */
export const HEALTH_LOG_REMINDER_MS = 60_000;

interface Failing {
  checks: string;
  since: number;
  lastLoggedAt: number;
  failedProbes: number;
}

/**
 * Logs probe failures by change, not by probe: Kubernetes asks every few seconds, and Terminus's own
 * logger writes a line (with volatile fields) on every failed answer. A failure is logged when it
 * starts or another check joins or leaves it, reminded once a minute while it lasts with the current
 * reasons, and its end is logged once. Reasons alone do not count as a change: a check's reason may
 * alternate while one fault lasts (Redis names whichever of its two connections it tried last).
 */
@Injectable()
export class HealthLog {
  private readonly logger = new Logger('Health');
  private readonly failing = new Map<string, Failing>();

  failed(probe: string, errors: Partial<HealthIndicatorResult>, now = Date.now()): void {
    const checks = Object.keys(errors).sort().join(',');
    const current = this.failing.get(probe);
    if (current && current.checks === checks) {
      current.failedProbes += 1;
      if (now - current.lastLoggedAt < HEALTH_LOG_REMINDER_MS) return;
      current.lastLoggedAt = now;
      this.logger.warn({
        msg: 'health check still failing',
        probe,
        reasons: reasonsOf(errors),
        failingForMs: now - current.since,
        failedProbes: current.failedProbes,
      });
      return;
    }
    this.failing.set(probe, { checks, since: current?.since ?? now, lastLoggedAt: now, failedProbes: 1 });
    this.logger.warn({ msg: 'health check failing', probe, reasons: reasonsOf(errors) });
  }

  passed(probe: string, now = Date.now()): void {
    const current = this.failing.get(probe);
    if (!current) return;
    this.failing.delete(probe);
    this.logger.log({ msg: 'health check passing again', probe, failedForMs: now - current.since });
  }
}

/** Each failing check with what it says, for a log line. */
function reasonsOf(errors: Partial<HealthIndicatorResult>): string {
  return Object.entries(errors)
    .map(([name, entry]) => `${name}: ${String(entry?.reason ?? entry?.message ?? 'down')}`)
    .join('; ');
}
