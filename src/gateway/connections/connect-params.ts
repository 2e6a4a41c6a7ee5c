import { ErrorCode, parsePosition, SESSION_PATTERN, type StreamPosition } from '@arbor/gateway-client/protocol';
import { AuthError } from '../../auth/auth.error.js';

/** The `since={epoch}:{seq}` a resuming client sends; malformed is a bad connect request. */
export function resumePosition(query: URLSearchParams): StreamPosition | undefined {
  const value = query.get('since');
  if (value === null) return undefined;
  const position = parsePosition(value);
  if (!position) throw new AuthError(ErrorCode.BadRequest, 'since must be {epoch}:{seq}');
  return position;
}

/** A daemon's `session` connect parameter, naming the numbering of its events. */
export function daemonSession(query: URLSearchParams): string | undefined {
  const value = query.get('session');
  if (value === null) return undefined;
  if (!SESSION_PATTERN.test(value)) throw new AuthError(ErrorCode.BadRequest, 'session must be 1-64 characters of A-Z a-z 0-9 _ -');
  return value;
}
