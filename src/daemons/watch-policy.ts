import { Injectable } from '@nestjs/common';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { AuthService } from '../auth/auth.service.js';
import type { Principal } from '../auth/principal.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { DomainError } from '../errors/domain.error.js';

/**
 * Who may watch or command which daemon, and how many one connection may watch: the rules the
 * transport asks before it adds a subscription or forwards a request naming a daemon.
 */
@Injectable()
export class WatchPolicy {
  constructor(
    private readonly auth: AuthService,
    private readonly config: GatewayConfig,
  ) {}

  /** A daemon this principal's token reaches and no revocation covers; `forbidden` otherwise. */
  allowedDaemon(principal: Principal, daemonId: string): string {
    this.auth.assertDaemonAccess(principal, daemonId);
    this.auth.assertNotRevoked({ principal, daemonId });
    return daemonId;
  }

  /** One more daemon for a multiplexed connection already watching `watched`: allowed, not a repeat, within the cap. */
  admitSubscription(principal: Principal, daemonId: string, watched: ReadonlyMap<string, unknown>): void {
    this.allowedDaemon(principal, daemonId);
    if (watched.has(daemonId)) throw new DomainError(ErrorCode.BadRequest, `already subscribed to daemon "${daemonId}"`, 'daemonId');
    if (watched.size >= this.config.maxSubscriptionsPerConnection) {
      throw new DomainError(ErrorCode.BadRequest, `a connection may hold at most ${this.config.maxSubscriptionsPerConnection} subscriptions`, 'daemonId');
    }
  }

  /**
   * The daemon a request is for: a single-daemon connection's own (naming another is refused), or
   * on a multiplexed connection (`own` undefined) the payload's `daemonId`, required and checked
   * like a subscription.
   */
  targetDaemon(principal: Principal, own: string | undefined, named: string | undefined): string {
    if (own !== undefined) {
      if (named !== undefined && named !== own) throw new DomainError(ErrorCode.Forbidden, 'this connection is for another daemon', 'daemonId');
      return own;
    }
    if (named === undefined) throw new DomainError(ErrorCode.ValidationFailed, 'daemonId is required on a connection opened without daemonId', 'daemonId');
    return this.allowedDaemon(principal, named);
  }
}
