import type { ErrorCode, ErrorPayload } from './protocol.js';

/** The gateway answered a request with an `error` frame. */
export class GatewayRequestError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;

  constructor(payload: ErrorPayload) {
    super(payload.message);
    this.name = 'GatewayRequestError';
    this.code = payload.code;
    this.field = payload.field;
  }
}

/** A request got no reply in time, or its connection stopped for good first. */
export class RequestTimeoutError extends Error {
  constructor(
    readonly type: string,
    timeoutMs: number,
  ) {
    super(`${type} got no reply within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

export class ConnectionClosedError extends Error {
  constructor(readonly type: string) {
    super(`${type} was not answered: the connection was closed`);
    this.name = 'ConnectionClosedError';
  }
}
