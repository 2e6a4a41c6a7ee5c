const JWT_PATTERN = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g;
const TOKEN_PARAM_PATTERN = /(\b(?:token|access_token)=)[^&\s"']*/gi;
const BEARER_PATTERN = /(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
/** Whole query strings of paths and URLs: they carry tokens, positions, session ids. */
const QUERY_PATTERN = /((?:wss?|https?):\/\/[^\s"'?]*|\/[\w.~/-]*)\?[^\s"']+/g;

/** Removes anything that looks like a credential, and every query string, from a log string. */
export function redact(text: string): string {
  return text
    .replace(QUERY_PATTERN, '$1?[REDACTED]')
    .replace(TOKEN_PARAM_PATTERN, '$1[REDACTED]')
    .replace(BEARER_PATTERN, '$1[REDACTED]')
    .replace(JWT_PATTERN, '[REDACTED_JWT]');
}
