import { Injectable } from '@nestjs/common';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { Counter } from 'prom-client';
import type { RateLimit } from '../config/gateway-config.js';
import { DomainError } from '../errors/domain.error.js';
import { KeyedTokenBuckets } from '../edge/token-bucket.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';

/** Ten sign-ins at once, then one every six seconds: plenty for an operator, slow for a guesser. */
export const SIGN_IN_LIMIT: RateLimit = { rate: 1 / 6, burst: 10 };

export enum SignInOutcome {
  SignedIn = 'signed_in',
  Refused = 'refused',
  Throttled = 'throttled',
}

/**
 * Console sign-ins, limited per client address (every attempt) and per key (every success, so a
 * leaked secret cannot mint sessions in a loop), and counted by outcome.
 */
@Injectable()
export class SignInThrottle {
  private readonly byAddress = new KeyedTokenBuckets(SIGN_IN_LIMIT, Date.now());
  private readonly byKey = new KeyedTokenBuckets(SIGN_IN_LIMIT, Date.now());
  private readonly attempts: Counter<'outcome'>;

  constructor(metrics: GatewayMetrics) {
    this.attempts = new Counter({
      name: 'arbor_console_sign_ins_total',
      help: 'Console sign-in attempts by outcome: signed_in, refused (wrong key), throttled (429)',
      labelNames: ['outcome'],
      registers: [metrics.registry],
    });
    for (const outcome of Object.values(SignInOutcome)) this.attempts.labels(outcome).inc(0);
  }

  /** Throws rate_limited when this address has tried too often. */
  attempt(address: string): void {
    this.take(this.byAddress, address, 'this address');
  }

  /** Throws rate_limited when this key has signed in too often. */
  succeeded(keyId: string): void {
    this.take(this.byKey, keyId, `key "${keyId}"`);
    this.attempts.labels(SignInOutcome.SignedIn).inc();
  }

  refused(): void {
    this.attempts.labels(SignInOutcome.Refused).inc();
  }

  private take(buckets: KeyedTokenBuckets, key: string, who: string): void {
    const waitMs = buckets.tryTake(key, Date.now());
    if (waitMs === 0) return;
    this.attempts.labels(SignInOutcome.Throttled).inc();
    throw new DomainError(ErrorCode.RateLimited, `too many console sign-ins from ${who}; try again later`, undefined, waitMs);
  }
}
