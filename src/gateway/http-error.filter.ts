import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
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

/** A domain error thrown under an HTTP route becomes its status, with the code and message as JSON. */
@Catch(DomainError)
export class HttpErrorFilter implements ExceptionFilter<DomainError> {
  catch(error: DomainError, host: ArgumentsHost): void {
    const statusCode = STATUS_FOR[error.code];
    const response = host.switchToHttp().getResponse<ServerResponse>();
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    if (error.retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
    response.writeHead(statusCode, headers).end(JSON.stringify({ statusCode, ...error.toPayload() }));
  }
}
