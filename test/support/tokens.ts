import { createHmac } from 'node:crypto';

/** Builds a JWT by hand, for tokens no well-behaved library would produce (alg none, edited payloads). */
export function handcraftToken(header: Record<string, unknown>, claims: Record<string, unknown>, secret?: string): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode(header)}.${encode(claims)}`;
  const signature = secret === undefined ? '' : createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** A valid HS256 token for the given secret, as an app backend would mint it. */
export function signToken(secret: string, claims: Record<string, unknown>, ttlSeconds = 300): string {
  const now = nowSeconds();
  return handcraftToken({ alg: 'HS256', typ: 'JWT' }, { aud: 'arbor-gateway', iat: now, exp: now + ttlSeconds, ...claims }, secret);
}
