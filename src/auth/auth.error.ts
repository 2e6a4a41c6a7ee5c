import { CloseCode, ErrorCode } from '@arbor/gateway-client/protocol';
import { DomainError } from '../errors/domain.error.js';

export type AuthErrorCode = ErrorCode.Unauthorized | ErrorCode.Forbidden | ErrorCode.BadRequest;

const CLOSE_CODE_FOR: Record<AuthErrorCode, CloseCode> = {
  [ErrorCode.Unauthorized]: CloseCode.Unauthorized,
  [ErrorCode.Forbidden]: CloseCode.Forbidden,
  [ErrorCode.BadRequest]: CloseCode.BadRequest,
};

/** A refused connection or request: the domain error plus the close code a connection ends with. */
export class AuthError extends DomainError {
  declare readonly code: AuthErrorCode;
  readonly closeCode: CloseCode;

  constructor(code: AuthErrorCode, message: string) {
    super(code, message);
    this.name = 'AuthError';
    this.closeCode = CLOSE_CODE_FOR[code];
  }
}
