import { Injectable } from '@nestjs/common';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ApiScope, type ApiKey } from '../config/api-keys.js';
import { GatewayConfig } from '../config/gateway-config.js';

/** `<id>.<expires>.<MAC>`: an API_KEYS id, digits for the expiry, a SHA-256 MAC in base64url, nothing more. */
const SESSION_TOKEN = /^([A-Za-z0-9_.-]{1,64})\.([1-9]\d{0,11})\.([A-Za-z0-9_-]{43})$/;

/** How long a console sign-in lasts. */
export const CONSOLE_SESSION_SECONDS = 8 * 3600;

/**
 * The configured API keys: finds the key a bearer secret names (comparing digests in constant
 * time against every key, so timing says nothing about which or how much matched), and signs and
 * checks console sessions with the key's own secret — any instance can check them, nothing is stored.
 */
@Injectable()
export class ApiKeyRegistry {
  private readonly keys: ReadonlyArray<{ key: ApiKey; digest: Buffer }>;

  constructor(config: GatewayConfig) {
    this.keys = config.apiKeys.map((key) => ({ key, digest: digest(key.secret) }));
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The key whose secret this is, or undefined. */
  bySecret(secret: string): ApiKey | undefined {
    const candidate = digest(secret);
    let found: ApiKey | undefined;
    for (const { key, digest: expected } of this.keys) if (timingSafeEqual(candidate, expected)) found = key;
    return found;
  }

  /** A session token for the key: `<id>.<expires (unix s)>.<HMAC>`. */
  signSession(key: ApiKey, now = Date.now()): string {
    const expires = Math.floor(now / 1000) + CONSOLE_SESSION_SECONDS;
    return `${key.id}.${expires}.${sessionMac(key, expires)}`;
  }

  /** The key a session token was signed for, if it is genuine and unexpired. */
  bySession(token: string, now = Date.now()): ApiKey | undefined {
    // Key ids may hold dots; the expiry and MAC never do, so they are read from the end.
    const match = SESSION_TOKEN.exec(token);
    if (!match) return undefined;
    const [, id, expiresText, mac] = match;
    const expires = Number(expiresText);
    if (expires * 1000 <= now) return undefined;
    const entry = this.keys.find(({ key }) => key.id === id);
    if (!entry) return undefined;
    const expected = Buffer.from(sessionMac(entry.key, expires));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected) ? entry.key : undefined;
  }
}

export function allows(key: ApiKey, write: boolean): boolean {
  return !write || key.scope === ApiScope.Write;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function sessionMac(key: ApiKey, expires: number): string {
  return createHmac('sha256', key.secret).update(`arbor-console:${key.id}.${expires}`).digest('base64url');
}
