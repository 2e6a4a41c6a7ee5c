import { CanActivate, ExecutionContext, Injectable, Logger, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import type { IncomingMessage } from 'node:http';
import { bearerCredential } from '../auth/bearer.js';
import type { ApiKey } from '../config/api-keys.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { DomainError } from '../errors/domain.error.js';
import { KeyedTokenBuckets } from '../edge/token-bucket.js';
import { allows, ApiKeyRegistry } from './api-key.registry.js';

/** The console's session cookie. */
export const CONSOLE_COOKIE = 'arbor_console';
/** Cookie-authenticated writes must carry this header: a cross-site form or image cannot set it. */
export const CONSOLE_CSRF_HEADER = 'x-arbor-console';

const WRITE_ROUTE = 'arbor:api-write';
/** Marks a route that needs a `write` key. */
export const WriteRoute = () => SetMetadata(WRITE_ROUTE, true);

/** Buckets of keys idle this long are dropped (they are full again by then). */
const IDLE_BUCKET_SWEEP_MS = 60_000;

export type ApiRequest = IncomingMessage & { apiKey?: ApiKey; apiCaller?: 'bearer' | 'console'; path?: string; cookies?: never };

/**
 * The server API's door: 404 while API_KEYS is empty; the key from `Authorization: Bearer` or a
 * console session cookie (then writes need the CSRF header and a same-origin Origin); 401, 403 for a
 * `read` key on a write route, 429 with Retry-After past the key's rate. Every call is logged with
 * the key's id, never its secret.
 */
@Injectable()
export class ApiAuthGuard implements CanActivate {
  private readonly logger = new Logger('ServerApi');
  private readonly buckets: KeyedTokenBuckets;

  constructor(
    private readonly keys: ApiKeyRegistry,
    private readonly config: GatewayConfig,
    private readonly reflector: Reflector,
  ) {
    this.buckets = new KeyedTokenBuckets(config.apiRatePerKey, Date.now(), IDLE_BUCKET_SWEEP_MS);
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.keys.enabled) throw new DomainError(ErrorCode.NotFound, 'Not Found');
    const request = context.switchToHttp().getRequest<ApiRequest>();
    const write = this.reflector.get<boolean>(WRITE_ROUTE, context.getHandler()) === true;
    const { key, caller } = this.identify(request);
    if (!allows(key, write)) throw new DomainError(ErrorCode.Forbidden, `key "${key.id}" is read-only; this route needs a write key`);
    this.limit(key);
    request.apiKey = key;
    request.apiCaller = caller;
    this.logger.log({ msg: 'api call', keyId: key.id, via: caller, method: request.method, path: (request.url ?? '').split('?')[0] });
    return true;
  }

  private identify(request: ApiRequest): { key: ApiKey; caller: 'bearer' | 'console' } {
    const credential = bearerCredential(request.headers.authorization);
    if (credential !== null) {
      const key = this.keys.bySecret(credential);
      if (!key) throw new DomainError(ErrorCode.Unauthorized, 'unknown API key');
      return { key, caller: 'bearer' };
    }
    const session = cookieValue(request.headers.cookie, CONSOLE_COOKIE);
    const key = session === undefined ? undefined : this.keys.bySession(session);
    if (!key) throw new DomainError(ErrorCode.Unauthorized, 'an API key is required: Authorization: Bearer <secret>');
    if (request.method !== 'GET' && request.method !== 'HEAD' && !sameOriginWrite(request)) {
      throw new DomainError(ErrorCode.Forbidden, `console writes need the ${CONSOLE_CSRF_HEADER} header from the gateway's own origin`);
    }
    return { key, caller: 'console' };
  }

  private limit(key: ApiKey): void {
    const waitMs = this.buckets.tryTake(key.id, Date.now());
    if (waitMs > 0)
      throw new DomainError(ErrorCode.RateLimited, `key "${key.id}" is over its rate of ${this.config.apiRatePerKey.rate} calls/s`, undefined, waitMs);
  }
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [cookieName, ...rest] = part.trim().split('=');
    if (cookieName !== name) continue;
    try {
      return decodeURIComponent(rest.join('='));
    } catch {
      // A malformed percent-encoding is simply not a session.
      return undefined;
    }
  }
  return undefined;
}

/** The CSRF header is present, and Origin (when sent) names this host. */
function sameOriginWrite(request: IncomingMessage): boolean {
  if (request.headers[CONSOLE_CSRF_HEADER] !== '1') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}
