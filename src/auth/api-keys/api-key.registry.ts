import { Injectable } from '@nestjs/common';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ApiScope, AUTH_API_KEY_ID, type ApiKey } from '../../config/api-keys.js';
import { GatewayConfig } from '../../config/gateway-config.js';

/** `<id>.<expires>.<MAC>`: an API_KEYS id, digits for the expiry, a SHA-256 MAC in base64url, nothing more. */
const SESSION_TOKEN = /^([A-Za-z0-9_.-]{1,64})\.([1-9]\d{0,11})\.([A-Za-z0-9_-]{43})$/;

/** How long a console sign-in lasts. */
export const CONSOLE_SESSION_SECONDS = 8 * 3600;

/**
 * The configured API keys, API_KEYS and AUTH_API_KEY (a `tokens` key with the id `AUTH_API_KEY`):
 * finds the key a bearer secret names (comparing digests in constant time against every key, so
 * timing says nothing about which or how much matched), and signs and checks console sessions with
 * the key's own secret — any instance can check them, nothing is stored.
 */
@Injectable()
export class ApiKeyRegistry {
  private readonly keys: ReadonlyArray<{ key: ApiKey; digest: Buffer }>;

  constructor(config: GatewayConfig) {
    const authApiKey: ApiKey[] = config.authApiKey === undefined ? [] : [{ id: AUTH_API_KEY_ID, secret: config.authApiKey, scope: ApiScope.Tokens }];
    this.keys = [...config.apiKeys, ...authApiKey].map((key) => ({ key, digest: digest(key.secret) }));
  }

  /** Whether some key may call routes that need `scope`: without one, those routes do not exist. */
  offers(scope: ApiScope): boolean {
    return this.keys.some(({ key }) => allows(key, scope));
  }

  /**
   * The key whose secret this is, or undefined; when AUTH_API_KEY is also the secret of an API_KEYS
   * entry, the one allowed `scope`.
   */
  bySecret(secret: string, scope: ApiScope): ApiKey | undefined {
    const candidate = digest(secret);
    let found: ApiKey | undefined;
    for (const { key, digest: expected } of this.keys) {
      if (timingSafeEqual(candidate, expected) && (found === undefined || allows(key, scope))) found = key;
    }
    return found;
  }

  /** A session token for the key: `<id>.<expires (unix s)>.<HMAC>`. */
  signSession(key: ApiKey, now = Date.now()): string {
    const expires = Math.floor(now / 1000) + CONSOLE_SESSION_SECONDS;
    return `${key.id}.${expires}.${sessionMac(key, expires)}`;
  }

  /** The server-API key a session token was signed for, if it is genuine and unexpired. */
  bySession(token: string, now = Date.now()): ApiKey | undefined {
    // Key ids may hold dots; the expiry and MAC never do, so they are read from the end.
    const match = SESSION_TOKEN.exec(token);
    if (!match) return undefined;
    const [, id, expiresText, mac] = match;
    const expires = Number(expiresText);
    if (expires * 1000 <= now) return undefined;
    const entry = this.keys.find(({ key }) => key.id === id && allows(key, ApiScope.Read));
    if (!entry) return undefined;
    const expected = Buffer.from(sessionMac(entry.key, expires));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected) ? entry.key : undefined;
  }
}

/** `write` keys may call `read` routes too; `tokens` keys only mint and revoke tokens. */
export function allows(key: ApiKey, scope: ApiScope): boolean {
  if (scope === ApiScope.Read) return key.scope === ApiScope.Read || key.scope === ApiScope.Write;
  return key.scope === scope;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function sessionMac(key: ApiKey, expires: number): string {
  return createHmac('sha256', key.secret).update(`arbor-console:${key.id}.${expires}`).digest('base64url');
}
