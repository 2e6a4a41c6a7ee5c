import type { IncomingMessage } from 'node:http';

/** The console's session cookie: a session token the API-key registry signs and checks. */
export const CONSOLE_COOKIE = 'arbor_console';
/** Cookie-authenticated writes must carry this header: a cross-site form or image cannot set it. */
export const CONSOLE_CSRF_HEADER = 'x-arbor-console';

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [cookieName, ...rest] = part.trim().split('=');
    if (cookieName !== name) continue;
    try {
      return decodeURIComponent(rest.join('='));
    } catch {
      // A malformed percent-encoding is simply not a session.
      return undefined;
    }
  }
  return undefined;
}

/** The CSRF header is present, and Origin (when sent) names this host. */
export function sameOriginWrite(request: IncomingMessage): boolean {
  if (request.headers[CONSOLE_CSRF_HEADER] !== '1') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}
