import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayConfig } from '../config/gateway-config.js';
import { DomainError } from '../errors/domain.error.js';
import { bearerCredential } from './bearer.js';

/**
 * Bearer API key for the app backend's HTTP endpoints. Without AUTH_API_KEY the endpoints do not
 * exist (404), so an unconfigured gateway exposes no way to mint tokens.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly expectedDigest: Buffer | undefined;

  constructor(config: GatewayConfig) {
    this.expectedDigest = config.authApiKey === undefined ? undefined : digest(config.authApiKey);
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expectedDigest) throw new DomainError(ErrorCode.NotFound, 'Not Found');
    const credential = bearerCredential(context.switchToHttp().getRequest<IncomingMessage>().headers.authorization);
    // Compare digests: equal length, constant time, whatever the caller sent.
    if (credential === null || !timingSafeEqual(digest(credential), this.expectedDigest)) throw new DomainError(ErrorCode.Unauthorized, 'invalid API key');
    return true;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
