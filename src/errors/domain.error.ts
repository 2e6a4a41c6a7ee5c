import { ErrorCode, type ErrorPayload } from '@arbor/gateway-client/protocol';

/**
 * The one error services and stores throw: a protocol error code and a message safe to show the
 * peer and to log (and the offending field, for validation). The transport decides what it
 * becomes: an `error` frame over WebSocket, a status over HTTP.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    /** For rate_limited: when the caller may try again. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DomainError';
  }

  toPayload(): ErrorPayload {
    const payload: ErrorPayload = { code: this.code, message: this.message };
    if (this.field !== undefined) payload.field = this.field;
    if (this.retryAfterMs !== undefined) payload.retryAfterMs = this.retryAfterMs;
    return payload;
  }
}

/** Shared state (Redis) is unreachable: the caller may retry shortly. */
export function isUnavailable(error: unknown): error is DomainError {
  return error instanceof DomainError && error.code === ErrorCode.Unavailable;
}

export function unavailable(): DomainError {
  return new DomainError(ErrorCode.Unavailable, 'shared state is unavailable; retry shortly');
}
