import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { DaemonService } from '../daemons/daemon.service.js';

/**
 * Backed by the heartbeat sweep. Misbehaving daemons never take it down (they are counted, not
 * judged); it goes down only when the sweep itself is three intervals late, i.e. the gateway's
 * event loop is stuck.
 */
@Injectable()
export class DaemonsHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly daemons: DaemonService,
  ) {}

  check(key = 'daemons'): HealthIndicatorResult {
    const session = this.indicators.check(key);
    const snapshot = this.daemons.healthSnapshot();
    if (!this.daemons.isSweepOnSchedule()) {
      return session.down({ ...snapshot, reason: 'heartbeat sweep has not run for three intervals' });
    }
    return session.up({ ...snapshot });
  }
}
