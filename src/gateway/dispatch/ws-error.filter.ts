import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { Connection } from '../connections/connection.js';
import { DomainError } from '../../errors/domain.error.js';
import { errorFrame, errorFrameOf } from './frames.js';

/**
 * Global filters skip gateways, so this one is bound on the gateway. Every failure of a message
 * handler becomes an `error` frame carrying the request's id; the connection stays open.
 */
@Catch()
export class WsErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const connection = Connection.of(host.switchToWs().getClient<WebSocket>());
    if (connection) sendError(connection, exception, connection.currentFrameId);
  }
}

const logger = new Logger(WsErrorFilter.name);

/** Answers a failed frame with its error frame; also used by directly dispatched handlers. */
export function sendError(connection: Connection, exception: unknown, id: string | undefined): void {
  if (exception instanceof DomainError) {
    connection.send(errorFrame(exception.toPayload(), id));
  } else if (exception instanceof WsException) {
    connection.send(errorFrameOf(ErrorCode.BadRequest, String(exception.message), id));
  } else {
    logger.error({ msg: 'message handler failed', connectionId: connection.id, error: describe(exception) });
    connection.send(errorFrameOf(ErrorCode.InternalError, 'internal error', id));
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
