import { Injectable } from '@nestjs/common';
import { JwtService, type JwtVerifyOptions } from '@nestjs/jwt';
import { createPublicKey, createSecretKey, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, Limits, Role } from '@arbor/gateway-client/protocol';
import { GatewayConfig } from '../config/gateway-config.js';
import { AuthError } from './auth.error.js';
import type { ConnectionIdentity, Principal } from './principal.js';
import type { IssuedToken, IssueTokenRequest, TokenClaims } from './token-claims.js';
import { isValidId } from './id.js';

/**
 * The one place tokens are verified and access is decided: WebSocket connections, WebSocket
 * guards and HTTP guards all go through it.
 */
@Injectable()
export class AuthService {
  private readonly verifyOptions: JwtVerifyOptions;

  constructor(
    private readonly jwt: JwtService,
    private readonly config: GatewayConfig,
  ) {
    const key = config.jwt;
    // A KeyObject built once: given a string, jsonwebtoken re-parses the key on every verify
    // (first trying it as a PEM public key), which dominated the cost of a handshake.
    const keyObject = key.kind === 'secret' ? createSecretKey(Buffer.from(key.secret)) : createPublicKey(key.publicKey);
    this.verifyOptions = {
      ...(key.kind === 'secret' ? { secret: keyObject as never } : { publicKey: keyObject as never }),
      algorithms: key.algorithms,
      audience: config.audience,
      issuer: config.issuer,
      clockTolerance: config.clockToleranceSeconds,
    };
  }

  /** Verifies a token and its claims; throws AuthError(unauthorized) with a reason otherwise. */
  verifyToken(token: string): Principal {
    let claims: Partial<TokenClaims>;
    try {
      claims = this.jwt.verify<Partial<TokenClaims>>(token, this.verifyOptions);
    } catch (error) {
      throw new AuthError(ErrorCode.Unauthorized, describeJwtError(error));
    }
    return this.principalFrom(claims);
  }

  /**
   * Admits or refuses a WebSocket upgrade. Daemons are bound to their own id (the token's sub);
   * clients name the daemon they watch, which must be in their `daemons` claim.
   */
  authenticateConnection(requestUrl: string | URL | undefined, headers: IncomingHttpHeaders): ConnectionIdentity {
    const url = requestUrl instanceof URL ? requestUrl : new URL(requestUrl ?? '/', 'http://gateway.invalid');
    const token = bearerToken(headers.authorization) ?? url.searchParams.get('token');
    if (!token) throw new AuthError(ErrorCode.Unauthorized, 'missing token');
    const principal = this.verifyToken(token);
    const requestedDaemonId = url.searchParams.get('daemonId');

    if (principal.role === Role.Daemon) {
      if (requestedDaemonId !== null && requestedDaemonId !== principal.sub) {
        throw new AuthError(ErrorCode.Forbidden, 'a daemon may only connect as itself');
      }
      return { principal, daemonId: principal.sub };
    }
    if (requestedDaemonId === null || !isValidId(requestedDaemonId)) {
      throw new AuthError(ErrorCode.BadRequest, 'daemonId query parameter is required (1-128 characters)');
    }
    this.assertDaemonAccess(principal, requestedDaemonId);
    return { principal, daemonId: requestedDaemonId };
  }

  assertDaemonAccess(principal: Principal, daemonId: string): void {
    const allowed = principal.role === Role.Daemon ? principal.sub === daemonId : principal.daemons.has(daemonId);
    if (!allowed) throw new AuthError(ErrorCode.Forbidden, 'no access to this daemon');
  }

  /** Mints a token with the configured secret (development CLI and POST /auth/token). */
  issueToken(request: IssueTokenRequest): IssuedToken {
    const { jwt } = this.config;
    if (jwt.kind !== 'secret') {
      throw new Error('tokens can only be issued when the gateway holds JWT_SECRET');
    }
    const ttlSeconds = Math.min(request.ttlSeconds ?? this.config.tokenMaxTtlSeconds, this.config.tokenMaxTtlSeconds);
    const issuedAt = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = {
      sub: request.sub,
      role: request.role,
      aud: this.config.audience,
      iat: issuedAt,
      exp: issuedAt + ttlSeconds,
      jti: randomUUID(),
      ...(this.config.issuer ? { iss: this.config.issuer } : {}),
      ...(request.role === Role.Client ? { daemons: request.daemons ?? [] } : {}),
    };
    const token = this.jwt.sign(claims, { secret: jwt.secret, algorithm: 'HS256' });
    return { token, expiresAt: new Date(claims.exp * 1000).toISOString() };
  }

  private principalFrom(claims: Partial<TokenClaims>): Principal {
    const invalid = (reason: string) => new AuthError(ErrorCode.Unauthorized, reason);
    if (typeof claims.sub !== 'string' || !isValidId(claims.sub)) throw invalid('token sub must be a 1-128 character string');
    if (claims.role !== Role.Client && claims.role !== Role.Daemon) throw invalid('token role must be "client" or "daemon"');
    if (typeof claims.exp !== 'number') throw invalid('token must carry exp');
    if (typeof claims.iat !== 'number') throw invalid('token must carry iat');
    if (claims.exp - claims.iat > this.config.tokenMaxTtlSeconds) {
      throw invalid(`token lifetime exceeds ${this.config.tokenMaxTtlSeconds} seconds`);
    }
    if (claims.iat > Date.now() / 1000 + this.config.clockToleranceSeconds) throw invalid('token issued in the future');
    let daemons: ReadonlySet<string> = new Set();
    if (claims.role === Role.Client) {
      const list = claims.daemons;
      if (!Array.isArray(list) || list.length > Limits.MAX_DAEMONS_PER_TOKEN || !list.every((id) => typeof id === 'string' && isValidId(id))) {
        throw invalid('client token must carry daemons: string[]');
      }
      daemons = new Set(list);
    }
    return {
      sub: claims.sub,
      role: claims.role,
      daemons,
      expiresAt: claims.exp,
      tokenId: typeof claims.jti === 'string' ? claims.jti : undefined,
    };
  }
}

function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

/** jsonwebtoken's messages are safe (they never echo the token); keep them short and stable. */
function describeJwtError(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TokenExpiredError') return 'token expired';
    if (error.name === 'NotBeforeError') return 'token not yet valid';
    return `invalid token: ${error.message}`;
  }
  return 'invalid token';
}
