import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { LifecycleState } from '../lifecycle/lifecycle.state.js';

/** Down from the moment shutdown begins, so the load balancer stops sending new connections. */
@Injectable()
export class AcceptingHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly lifecycle: LifecycleState,
  ) {}

  check(key = 'gateway'): HealthIndicatorResult {
    const session = this.indicators.check(key);
    return this.lifecycle.isShuttingDown ? session.down({ reason: 'shutting down' }) : session.up({ accepting: true });
  }
}
