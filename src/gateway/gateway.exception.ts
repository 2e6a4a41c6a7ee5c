import { WsException } from '@nestjs/websockets';
import type { ErrorCode, ErrorPayload } from '@arbor/gateway-client/protocol';

/** An error answered with an `error` frame; the connection stays open. */
export class GatewayException extends WsException {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }

  toPayload(): ErrorPayload {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}
