import type { UrlSource } from './socket-types.js';

/** The URL source with query parameters added, re-evaluated before every connection attempt. */
export function withQuery(url: UrlSource, params: () => Record<string, string | undefined>): () => Promise<string> {
  return async () => {
    const base = new URL(String(typeof url === 'function' ? await url() : url));
    for (const [key, value] of Object.entries(params())) if (value !== undefined) base.searchParams.set(key, value);
    return base.toString();
  };
}

/** The URL with the token as its `token` parameter (none: unchanged). */
export function withToken(base: string | URL, token: string | null | undefined): string {
  if (!token) return String(base);
  const url = new URL(String(base));
  url.searchParams.set('token', token);
  return url.toString();
}
