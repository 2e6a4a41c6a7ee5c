import { CloseCode, ErrorCode } from '@arbor/gateway-client/protocol';

export type AuthErrorCode = ErrorCode.Unauthorized | ErrorCode.Forbidden | ErrorCode.BadRequest;

const CLOSE_CODE_FOR: Record<AuthErrorCode, CloseCode> = {
  [ErrorCode.Unauthorized]: CloseCode.Unauthorized,
  [ErrorCode.Forbidden]: CloseCode.Forbidden,
  [ErrorCode.BadRequest]: CloseCode.BadRequest,
};

/** A refused connection or request. `message` is safe to send to the peer and to log. */
export class AuthError extends Error {
  readonly closeCode: CloseCode;

  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
    this.closeCode = CLOSE_CODE_FOR[code];
  }
}
