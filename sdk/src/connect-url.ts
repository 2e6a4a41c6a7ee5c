import type { UrlSource } from './reconnecting-websocket.js';

/** The URL source with query parameters added, re-evaluated before every connection attempt. */
export function withQuery(url: UrlSource, params: () => Record<string, string | undefined>): () => Promise<string> {
  return async () => {
    const base = new URL(String(typeof url === 'function' ? await url() : url));
    for (const [key, value] of Object.entries(params())) if (value !== undefined) base.searchParams.set(key, value);
    return base.toString();
  };
}
