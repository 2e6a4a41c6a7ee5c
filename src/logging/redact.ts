const JWT_PATTERN = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g;
const TOKEN_PARAM_PATTERN = /([?&](?:token|access_token)=)[^&\s"']*/gi;
const BEARER_PATTERN = /(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi;

/** Removes anything that looks like a credential from a log string. */
export function redact(text: string): string {
  return text
    .replace(TOKEN_PARAM_PATTERN, '$1[REDACTED]')
    .replace(BEARER_PATTERN, '$1[REDACTED]')
    .replace(JWT_PATTERN, '[REDACTED_JWT]');
}
