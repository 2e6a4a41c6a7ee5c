import type { RateLimit } from '../../config/gateway-config.js';
import { TokenBucket } from '../../edge/token-bucket.js';

export enum FrameVerdict {
  Accept = 'accept',
  /** Accepted, but the connection is over its rate: stop reading it for `retryAfterMs`. */
  Throttle = 'throttle',
  /** Refused with rate_limited; the peer should wait `retryAfterMs`. */
  Refuse = 'refuse',
  /** Kept sending through a whole burst of refusals: close with 1008. */
  Abuse = 'abuse',
}

export enum OverRateMode {
  /** Clients: frames over the rate are refused (they are requests the user can repeat). */
  Refuse = 'refuse',
  /** Daemons: frames over the rate are read later (they are events that must not be lost). */
  Throttle = 'throttle',
}

/** One connection's inbound limits: its role's frame size cap and message rate (one object per connection). */
export class InboundLimiter extends TokenBucket {
  /** Refusals since the last accepted frame. */
  private strikes = 0;
  retryAfterMs = 0;

  constructor(
    readonly maxFrameBytes: number,
    rateLimit: RateLimit,
    private readonly mode: OverRateMode,
    now = performance.now(),
  ) {
    super(rateLimit, now);
  }

  admit(now = performance.now()): FrameVerdict {
    if (this.mode === OverRateMode.Throttle) {
      this.retryAfterMs = this.take(now);
      return this.retryAfterMs === 0 ? FrameVerdict.Accept : FrameVerdict.Throttle;
    }
    this.retryAfterMs = this.tryTake(now);
    if (this.retryAfterMs === 0) {
      this.strikes = 0;
      return FrameVerdict.Accept;
    }
    this.strikes += 1;
    return this.strikes > this.limit.burst ? FrameVerdict.Abuse : FrameVerdict.Refuse;
  }
}
