/**
 * ALLOWED_ORIGINS: `*`, or a comma-separated list of origins (scheme://host[:port], nothing else),
 * normalised as browsers send them: lower-case, default port dropped. Throws on anything else.
 */
export function parseAllowedOrigins(value: string): '*' | ReadonlySet<string> {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new Error('must list at least one origin, or *');
  if (entries.includes('*')) {
    if (entries.length > 1) throw new Error('may not mix * with origins');
    return '*';
  }
  const origins = new Set<string>();
  for (const entry of entries) {
    const origin = normaliseOrigin(entry);
    if (!origin) throw new Error(`has ${JSON.stringify(entry)}, which is not an origin (scheme://host[:port], no path)`);
    origins.add(origin);
  }
  return origins;
}

/** The serialised origin of an http(s) URL with no path, query, fragment or credentials; else undefined. */
export function normaliseOrigin(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username || url.password || url.search || url.hash) return undefined;
  if (!/^[a-z]+:\/\/[^/?#]+\/?$/i.test(value)) return undefined;
  return url.origin;
}
