import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { DomainError } from '../errors/domain.error.js';

/** The HTTP status for each domain error code. */
const STATUS_FOR: Record<ErrorCode, HttpStatus> = {
  [ErrorCode.InvalidJson]: HttpStatus.BAD_REQUEST,
  [ErrorCode.BadRequest]: HttpStatus.BAD_REQUEST,
  [ErrorCode.UnknownType]: HttpStatus.BAD_REQUEST,
  [ErrorCode.ValidationFailed]: HttpStatus.BAD_REQUEST,
  [ErrorCode.Unauthorized]: HttpStatus.UNAUTHORIZED,
  [ErrorCode.Forbidden]: HttpStatus.FORBIDDEN,
  [ErrorCode.NotFound]: HttpStatus.NOT_FOUND,
  [ErrorCode.DaemonOffline]: HttpStatus.CONFLICT,
  [ErrorCode.Unavailable]: HttpStatus.SERVICE_UNAVAILABLE,
  [ErrorCode.RateLimited]: HttpStatus.TOO_MANY_REQUESTS,
  [ErrorCode.MessageTooBig]: HttpStatus.PAYLOAD_TOO_LARGE,
  [ErrorCode.Replaced]: HttpStatus.CONFLICT,
  [ErrorCode.HeartbeatTimeout]: HttpStatus.REQUEST_TIMEOUT,
  [ErrorCode.SlowConsumer]: HttpStatus.SERVICE_UNAVAILABLE,
  [ErrorCode.PolicyViolation]: HttpStatus.FORBIDDEN,
  [ErrorCode.InternalError]: HttpStatus.INTERNAL_SERVER_ERROR,
};

/** The code for a 4xx that Nest or Express raised before any handler ran (no route, body-parser). */
const CODE_FOR_STATUS: Partial<Record<number, ErrorCode>> = {
  [HttpStatus.UNAUTHORIZED]: ErrorCode.Unauthorized,
  [HttpStatus.FORBIDDEN]: ErrorCode.Forbidden,
  [HttpStatus.NOT_FOUND]: ErrorCode.NotFound,
  [HttpStatus.PAYLOAD_TOO_LARGE]: ErrorCode.MessageTooBig,
  [HttpStatus.TOO_MANY_REQUESTS]: ErrorCode.RateLimited,
};

/**
 * Every HTTP error answers `{statusCode, code, message, field?}`: a domain error with its code's
 * status; a framework 4xx (unknown route, malformed or oversized body, wrong content type) with its
 * own status and a fixed message that never repeats a parser's text. A 5xx a handler raised on
 * purpose is answered as raised; anything else is a fault of ours: a 500 whose stack is logged,
 * never sent.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(error: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<ServerResponse>();
    if (response.headersSent) return void response.destroy();
    // A 5xx a handler raised on purpose (the health probes' 503 with Terminus's report) is answered as raised.
    if (error instanceof HttpException && error.getStatus() >= 500) return send(response, error.getStatus(), error.getResponse());
    const domainError = error instanceof DomainError ? error : this.toDomainError(error);
    const statusCode = error instanceof HttpException ? error.getStatus() : STATUS_FOR[domainError.code];
    const headers: Record<string, string> = {};
    if (domainError.retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(domainError.retryAfterMs / 1000)));
    send(response, statusCode, { statusCode, ...domainError.toPayload() }, headers);
  }

  private toDomainError(error: unknown): DomainError {
    if (error instanceof HttpException) {
      const status = error.getStatus();
      if (error.cause instanceof SyntaxError) return new DomainError(ErrorCode.InvalidJson, 'request body is not valid JSON');
      if (status === HttpStatus.PAYLOAD_TOO_LARGE) return new DomainError(ErrorCode.MessageTooBig, 'request body is too large');
      return new DomainError(CODE_FOR_STATUS[status] ?? ErrorCode.BadRequest, statusText(status));
    }
    this.logger.error({ msg: 'unexpected error answering a request', error: error instanceof Error ? error.stack : String(error) });
    return new DomainError(ErrorCode.InternalError, 'internal error');
  }
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function statusText(status: number): string {
  const texts: Partial<Record<number, string>> = { 400: 'bad request', 404: 'Not Found', 405: 'method not allowed', 415: 'unsupported content type' };
  return texts[status] ?? `request refused (${status})`;
}
