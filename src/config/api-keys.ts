/** What an API key may do: the server API's `read` routes, all of its routes (`write`), or mint and revoke tokens (`tokens`). */
export enum ApiScope {
  Read = 'read',
  Write = 'write',
  Tokens = 'tokens',
}

/** The id AUTH_API_KEY goes by: it is a `tokens` key like any in API_KEYS. */
export const AUTH_API_KEY_ID = 'AUTH_API_KEY';

/** One server-API key from API_KEYS: its id is what logs and audit lines name, never the secret. */
export interface ApiKey {
  readonly id: string;
  readonly secret: string;
  readonly scope: ApiScope;
}

export const MIN_API_SECRET_LENGTH = 32;

export class ApiKeysError extends Error {}

/**
 * API_KEYS: `id:secret:scope` entries, comma-separated; ids unique, secrets at least 32 characters,
 * scope `read`, `write` or `tokens`. Messages never contain a secret.
 */
export function parseApiKeys(value: string): ApiKey[] {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new ApiKeysError('must list at least one id:secret:scope entry');
  const keys: ApiKey[] = [];
  entries.forEach((entry, index) => {
    const parts = entry.split(':');
    const where = `entry ${index + 1}`;
    if (parts.length !== 3) throw new ApiKeysError(`${where} is not id:secret:scope (the secret may not contain ':' or ',')`);
    const [id, secret, scope] = parts;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new ApiKeysError(`${where} has an id that is not 1-64 characters of A-Z a-z 0-9 _ . -`);
    if (secret.length < MIN_API_SECRET_LENGTH) throw new ApiKeysError(`key "${id}" has a secret shorter than ${MIN_API_SECRET_LENGTH} characters`);
    if (scope !== ApiScope.Read && scope !== ApiScope.Write && scope !== ApiScope.Tokens)
      throw new ApiKeysError(`key "${id}" has scope ${JSON.stringify(scope)}; use read, write or tokens`);
    if (id === AUTH_API_KEY_ID) throw new ApiKeysError(`key id "${id}" is the name AUTH_API_KEY goes by; choose another`);
    if (keys.some((key) => key.id === id)) throw new ApiKeysError(`key id "${id}" is listed twice`);
    if (keys.some((key) => key.secret === secret)) throw new ApiKeysError(`key "${id}" reuses another key's secret`);
    keys.push({ id, secret, scope });
  });
  return keys;
}
