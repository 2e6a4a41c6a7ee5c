import { CanActivate, ExecutionContext, Injectable, NotFoundException, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayConfig } from '../config/gateway-config.js';

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
    if (!this.expectedDigest) throw new NotFoundException();
    const header = context.switchToHttp().getRequest<IncomingMessage>().headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    // Compare digests: equal length, constant time, whatever the caller sent.
    if (!match || !timingSafeEqual(digest(match[1]), this.expectedDigest)) throw new UnauthorizedException('invalid API key');
    return true;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
