import { Logger } from '@nestjs/common';
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

/** A JWKS document larger than this is refused: keys sets are a few kilobytes. */
const MAX_JWKS_BYTES = 256 * 1024;
const MAX_KID_LENGTH = 256;

export interface JwksOptions {
  url: string;
  /** The issuer whose keys these are; keys are cached by (issuer, kid). */
  issuer: string | undefined;
  /** An unknown kid triggers at most one fetch per this interval (no fetch storms from forged kids). */
  refetchMinIntervalMs: number;
  timeoutMs: number;
}

/**
 * Public keys from a JWKS endpoint (the configured URL only: `jku` and `x5u` headers are never
 * followed). Keys are fetched at boot and again when a token names a kid we do not hold, at most
 * once per refetch interval; a failed fetch keeps the keys we have.
 */
export class JwksKeySource {
  private readonly logger = new Logger('Jwks');
  private keys = new Map<string, KeyObject>();
  private lastFetchStartedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;
  /** How many fetches were started (for tests and the rate bound). */
  fetches = 0;

  constructor(
    private readonly options: JwksOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** The key for `kid`, fetching the set again if it is unknown and the last fetch is old enough. */
  async keyFor(kid: unknown): Promise<KeyObject | undefined> {
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) return undefined;
    const cacheKey = this.cacheKey(kid);
    const known = this.keys.get(cacheKey);
    if (known) return known;
    if (this.inFlight) await this.inFlight;
    else if (this.now() - this.lastFetchStartedAt >= this.options.refetchMinIntervalMs) await this.refresh();
    return this.keys.get(cacheKey);
  }

  /** Fetches the key set; single-flight. Never throws: a failure is logged and the old keys stay. */
  refresh(): Promise<void> {
    this.inFlight ??= this.fetchKeys().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async fetchKeys(): Promise<void> {
    this.lastFetchStartedAt = this.now();
    this.fetches += 1;
    try {
      const response = await fetch(this.options.url, {
        signal: AbortSignal.timeout(this.options.timeoutMs),
        redirect: 'error',
        headers: { accept: 'application/json' },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.text();
      if (body.length > MAX_JWKS_BYTES) throw new Error('key set too large');
      const keys = this.parse(JSON.parse(body) as unknown);
      this.keys = keys;
      this.logger.log({ msg: 'jwks loaded', keys: keys.size });
    } catch (error) {
      this.logger.warn({
        msg: 'jwks fetch failed; keeping the keys held',
        keys: this.keys.size,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private parse(document: unknown): Map<string, KeyObject> {
    const list = (document as { keys?: unknown })?.keys;
    if (!Array.isArray(list)) throw new Error('not a JWK set');
    const keys = new Map<string, KeyObject>();
    for (const jwk of list as Array<Record<string, unknown>>) {
      if (typeof jwk?.kid !== 'string' || jwk.kid.length > MAX_KID_LENGTH) continue;
      if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') continue;
      if (jwk.use !== undefined && jwk.use !== 'sig') continue;
      try {
        // Only the public members: a set that leaks private parts must not make us hold them.
        const { kty, n, e, crv, x, y } = jwk;
        keys.set(this.cacheKey(jwk.kid), createPublicKey({ key: { kty, n, e, crv, x, y } as JsonWebKey, format: 'jwk' }));
      } catch {
        continue;
      }
    }
    return keys;
  }

  private cacheKey(kid: string): string {
    return `${this.options.issuer ?? ''}\u0000${kid}`;
  }
}
