/** How connections end: close codes, the error codes that precede them, and what a client does after each. */

export enum CloseCode {
  Normal = 1000,
  GoingAway = 1001,
  AbnormalClosure = 1006,
  /** A text frame that is not UTF-8 (the WebSocket layer closes it). */
  InvalidPayload = 1007,
  PolicyViolation = 1008,
  MessageTooBig = 1009,
  InternalError = 1011,
  ServiceRestart = 1012,
  TryAgainLater = 1013,
  /** The client did not read its outbound buffer down in time; it resumes like any reconnect. */
  SlowConsumer = 4008,
  BadRequest = 4400,
  Unauthorized = 4401,
  Forbidden = 4403,
  HeartbeatTimeout = 4408,
  Replaced = 4409,
}

export enum ErrorCode {
  InvalidJson = 'invalid_json',
  BadRequest = 'bad_request',
  UnknownType = 'unknown_type',
  Forbidden = 'forbidden',
  Unauthorized = 'unauthorized',
  ValidationFailed = 'validation_failed',
  NotFound = 'not_found',
  DaemonOffline = 'daemon_offline',
  /** Shared state (Redis) is unreachable; retry shortly. */
  Unavailable = 'unavailable',
  Replaced = 'replaced',
  HeartbeatTimeout = 'heartbeat_timeout',
  SlowConsumer = 'slow_consumer',
  /** Too many frames: `retryAfterMs` says when the next one is accepted. */
  RateLimited = 'rate_limited',
  /** A frame larger than this role may send (close 1009). */
  MessageTooBig = 'message_too_big',
  /** Sustained abuse, e.g. rate limits ignored (close 1008). */
  PolicyViolation = 'policy_violation',
  InternalError = 'internal_error',
}

/** Closes the gateway initiates are preceded by an `error` frame with this code. */
export const CLOSE_ERROR_CODES: Readonly<Partial<Record<CloseCode, ErrorCode>>> = {
  [CloseCode.PolicyViolation]: ErrorCode.PolicyViolation,
  [CloseCode.MessageTooBig]: ErrorCode.MessageTooBig,
  [CloseCode.BadRequest]: ErrorCode.BadRequest,
  [CloseCode.Unauthorized]: ErrorCode.Unauthorized,
  [CloseCode.Forbidden]: ErrorCode.Forbidden,
  [CloseCode.HeartbeatTimeout]: ErrorCode.HeartbeatTimeout,
  [CloseCode.SlowConsumer]: ErrorCode.SlowConsumer,
  [CloseCode.Replaced]: ErrorCode.Replaced,
};

/** What a client should do after the gateway closes the connection with a given code. */
export enum CloseAction {
  /** Reconnect with backoff. */
  Retry = 'retry',
  /** Fetch a fresh token, then reconnect. */
  RefreshTokenAndRetry = 'refresh-token-and-retry',
  /** Do not reconnect: retrying cannot succeed without a change on the caller's side. */
  Stop = 'stop',
}

export const CLOSE_ACTIONS: Readonly<Record<number, CloseAction>> = {
  [CloseCode.Normal]: CloseAction.Stop,
  [CloseCode.GoingAway]: CloseAction.Retry,
  [CloseCode.AbnormalClosure]: CloseAction.Retry,
  [CloseCode.InvalidPayload]: CloseAction.Stop,
  [CloseCode.PolicyViolation]: CloseAction.Stop,
  [CloseCode.MessageTooBig]: CloseAction.Stop,
  [CloseCode.InternalError]: CloseAction.Retry,
  [CloseCode.ServiceRestart]: CloseAction.Retry,
  [CloseCode.TryAgainLater]: CloseAction.Retry,
  [CloseCode.SlowConsumer]: CloseAction.Retry,
  [CloseCode.BadRequest]: CloseAction.Stop,
  [CloseCode.Unauthorized]: CloseAction.RefreshTokenAndRetry,
  [CloseCode.Forbidden]: CloseAction.Stop,
  [CloseCode.HeartbeatTimeout]: CloseAction.Retry,
  [CloseCode.Replaced]: CloseAction.Stop,
};

/** Unknown codes are treated as transient: a client that stops on them would strand users. */
export function closeActionFor(code: number): CloseAction {
  return CLOSE_ACTIONS[code] ?? CloseAction.Retry;
}

/**
 * Close reasons may carry a retry hint, `retry-after-ms=<n>`, which clients honour instead of their
 * own backoff for that one reconnect (e.g. to spread reconnects during a rolling deploy).
 */
const RETRY_HINT_PATTERN = /(?:^|[\s;,])retry-after-ms=(\d{1,7})(?:$|[\s;,])/;

export function formatRetryHint(reason: string, delayMs: number): string {
  return `${reason}; retry-after-ms=${Math.max(0, Math.round(delayMs))}`;
}

export function parseRetryHint(reason: string): number | undefined {
  const match = RETRY_HINT_PATTERN.exec(reason);
  return match ? Number(match[1]) : undefined;
}
