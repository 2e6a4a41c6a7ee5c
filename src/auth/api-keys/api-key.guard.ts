import { CanActivate, ExecutionContext, Injectable, Logger, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import type { IncomingMessage } from 'node:http';
import { ApiScope, type ApiKey } from '../../config/api-keys.js';
import { GatewayConfig } from '../../config/gateway-config.js';
import { DomainError } from '../../errors/domain.error.js';
import { KeyedTokenBuckets } from '../../edge/token-bucket.js';
import { bearerCredential } from '../bearer.js';
import { allows, ApiKeyRegistry } from './api-key.registry.js';
import { CONSOLE_COOKIE, CONSOLE_CSRF_HEADER, cookieValue, sameOriginWrite } from './console-session.js';

const API_SCOPE = 'arbor:api-scope';
/** The scope a route needs (on the handler or its controller); routes without one need `read`. */
export const RequiresApiScope = (scope: ApiScope) => SetMetadata(API_SCOPE, scope);

/** Buckets of keys idle this long are dropped (they are full again by then). */
const IDLE_BUCKET_SWEEP_MS = 60_000;

export type ApiRequest = IncomingMessage & { apiKey?: ApiKey; apiCaller?: 'bearer' | 'console'; path?: string; cookies?: never };

/**
 * The one door for the app backend's keys (API_KEYS, and AUTH_API_KEY as a `tokens` key). A route
 * whose scope no configured key has answers 404, so an unconfigured gateway exposes no way in.
 * Token routes (`tokens`): `Authorization: Bearer` only, 401 otherwise. Server API routes (`read`,
 * `write`): the key from `Authorization: Bearer` or a console session cookie (then writes need the
 * CSRF header and a same-origin Origin); 401, 403 for a key without the route's scope, 429 with
 * Retry-After past the key's rate; every call is logged with the key's id, never its secret.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
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
    const scope = this.reflector.getAllAndOverride<ApiScope | undefined>(API_SCOPE, [context.getHandler(), context.getClass()]) ?? ApiScope.Read;
    if (!this.keys.offers(scope)) throw new DomainError(ErrorCode.NotFound, 'Not Found');
    const request = context.switchToHttp().getRequest<ApiRequest>();
    if (scope === ApiScope.Tokens) return this.tokensKey(request);
    const { key, caller } = this.identify(request, scope);
    if (!allows(key, scope)) throw new DomainError(ErrorCode.Forbidden, refusal(key, scope));
    this.limit(key);
    request.apiKey = key;
    request.apiCaller = caller;
    this.logger.log({ msg: 'api call', keyId: key.id, via: caller, method: request.method, path: (request.url ?? '').split('?')[0] });
    return true;
  }

  private tokensKey(request: ApiRequest): true {
    const credential = bearerCredential(request.headers.authorization);
    const key = credential === null ? undefined : this.keys.bySecret(credential, ApiScope.Tokens);
    if (!key || !allows(key, ApiScope.Tokens)) throw new DomainError(ErrorCode.Unauthorized, 'invalid API key');
    request.apiKey = key;
    return true;
  }

  private identify(request: ApiRequest, scope: ApiScope): { key: ApiKey; caller: 'bearer' | 'console' } {
    const credential = bearerCredential(request.headers.authorization);
    if (credential !== null) {
      const key = this.keys.bySecret(credential, scope);
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

function refusal(key: ApiKey, scope: ApiScope): string {
  if (key.scope === ApiScope.Read) return `key "${key.id}" is read-only; this route needs a write key`;
  return `key "${key.id}" has scope ${key.scope}; this route needs a ${scope} key`;
}
