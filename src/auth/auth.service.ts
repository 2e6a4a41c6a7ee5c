import { Injectable, type OnModuleInit } from '@nestjs/common';
import { bearerCredential } from './bearer.js';
import { JwtService, type JwtVerifyOptions } from '@nestjs/jwt';
import { createPublicKey, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, Limits, Role } from '@arbor/gateway-client/protocol';
import { GatewayConfig } from '../config/gateway-config.js';
import { AuthError } from './auth.error.js';
import { DomainError } from '../errors/domain.error.js';
import { isMultiplexed, MULTIPLEXED, type ConnectionIdentity, type Principal } from './principal.js';
import type { IssuedToken, IssueTokenRequest, TokenClaims } from './token-claims.js';
import { isValidId } from './id.js';
import { Hs256FastPath } from './hs256-fast-path.js';
import { JwksKeySource } from './jwks-key.source.js';
import { RevocationList } from './revocation.list.js';

/**
 * The one place tokens are verified and access is decided: WebSocket connections, WebSocket
 * guards and HTTP guards all go through it.
 */
@Injectable()
export class AuthService implements OnModuleInit {
  private readonly verifyOptions: JwtVerifyOptions;
  /**
   * A JwtService per key, configured with that key and the verify options: given them per call,
   * @nestjs/jwt copies and re-merges the options on every verify, a third of a verify's cost.
   */
  private readonly verifierByKey = new WeakMap<KeyObject, JwtService>();
  /** The one verification key (JWT_SECRET, JWT_PUBLIC_KEY) ... */
  private readonly staticKey: KeyObject | undefined;
  /** ... or the keys of JWT_JWKS_URL, chosen by the token's kid. */
  readonly jwks: JwksKeySource | undefined;
  /** With JWT_SECRET: accepts well-formed valid HS256 tokens without jsonwebtoken's cost; it decides the rest. */
  private readonly fastPath: Hs256FastPath | undefined;

  constructor(
    private readonly jwt: JwtService,
    private readonly config: GatewayConfig,
    private readonly revocations: RevocationList,
  ) {
    const key = config.jwt;
    // KeyObjects built once: given a string, jsonwebtoken re-parses the key on every verify
    // (first trying it as a PEM public key), which dominated the cost of a handshake.
    if (key.kind === 'jwks') {
      this.jwks = new JwksKeySource({ url: key.url, issuer: config.issuer, refetchMinIntervalMs: key.refetchMinIntervalMs, timeoutMs: key.timeoutMs });
    } else {
      this.staticKey = key.kind === 'secret' ? createSecretKey(Buffer.from(key.secret)) : createPublicKey(key.publicKey);
    }
    if (key.kind === 'secret' && this.staticKey && key.algorithms.includes('HS256')) {
      this.fastPath = new Hs256FastPath(this.staticKey, {
        audience: config.audience,
        issuer: config.issuer,
        clockToleranceSeconds: config.clockToleranceSeconds,
      });
    }
    this.verifyOptions = {
      algorithms: key.algorithms,
      audience: config.audience,
      issuer: config.issuer,
      clockTolerance: config.clockToleranceSeconds,
    };
  }

  async onModuleInit(): Promise<void> {
    // Keys in hand before the first connection; a JWKS endpoint that is down is retried on demand.
    await this.jwks?.refresh();
  }

  /** Verifies a token and its claims; throws AuthError(unauthorized) with a reason otherwise. */
  async verifyToken(token: string): Promise<Principal> {
    if (token.length > Limits.MAX_TOKEN_LENGTH) throw new AuthError(ErrorCode.Unauthorized, 'invalid token: too long');
    const key = this.staticKey ?? (await this.jwksKeyFor(token));
    let claims: Partial<TokenClaims>;
    try {
      claims = (this.fastPath?.verify(token) as Partial<TokenClaims> | undefined) ?? this.verifySlowly(token, key);
    } catch (error) {
      if (error instanceof AuthError) throw error;
      throw new AuthError(ErrorCode.Unauthorized, describeJwtError(error));
    }
    return this.principalFrom(claims);
  }

  /**
   * Admits or refuses a WebSocket upgrade. Daemons are bound to their own id (the token's sub);
   * clients name the daemon they watch, which must be in their `daemons` claim.
   */
  async authenticateConnection(requestUrl: string | URL | undefined, headers: IncomingHttpHeaders): Promise<ConnectionIdentity> {
    const url = requestUrl instanceof URL ? requestUrl : new URL(requestUrl ?? '/', 'http://gateway.invalid');
    const token = bearerCredential(headers.authorization) ?? url.searchParams.get('token');
    if (!token) throw new AuthError(ErrorCode.Unauthorized, 'missing token');
    const principal = await this.verifyToken(token);
    const requestedDaemonId = url.searchParams.get('daemonId');

    let identity: ConnectionIdentity;
    if (principal.role === Role.Daemon) {
      if (requestedDaemonId !== null && requestedDaemonId !== principal.sub) {
        throw new AuthError(ErrorCode.Forbidden, 'a daemon may only connect as itself');
      }
      identity = { principal, daemonId: principal.sub };
    } else if (requestedDaemonId === null) {
      // Multiplexed: the daemons come with `subscribe`, each checked then.
      identity = { principal, daemonId: MULTIPLEXED };
    } else {
      if (!isValidId(requestedDaemonId)) throw new AuthError(ErrorCode.BadRequest, 'daemonId must be 1-128 characters (or absent, to subscribe to daemons)');
      this.assertDaemonAccess(principal, requestedDaemonId);
      identity = { principal, daemonId: requestedDaemonId };
    }
    this.assertNotRevoked(identity);
    return identity;
  }

  /**
   * A fresh token for a live connection: it must name the same subject and role, still grant the
   * connection's daemon, and not be revoked. Returns the identity to carry on with.
   */
  async refreshIdentity(current: ConnectionIdentity, token: string): Promise<ConnectionIdentity> {
    const principal = await this.verifyToken(token);
    if (principal.sub !== current.principal.sub || principal.role !== current.principal.role) {
      throw new AuthError(ErrorCode.Forbidden, 'a refresh token must name the same subject and role');
    }
    // A multiplexed connection's subscriptions are checked against the new token one by one.
    if (!isMultiplexed(current)) this.assertDaemonAccess(principal, current.daemonId);
    const identity = { principal, daemonId: current.daemonId };
    this.assertNotRevoked(identity);
    return identity;
  }

  /**
   * No access is answered the same whether the daemon exists or not: the gateway never tells a
   * caller which daemon ids exist.
   */
  assertDaemonAccess(principal: Principal, daemonId: string): void {
    const allowed = principal.role === Role.Daemon ? principal.sub === daemonId : principal.daemons.has(daemonId);
    if (!allowed) throw new AuthError(ErrorCode.Forbidden, 'no access to this daemon');
  }

  assertNotRevoked(identity: ConnectionIdentity): void {
    // Fail closed: without the shared list (Redis away since boot) a revoked token could pass.
    if (!this.revocations.isSynced) throw new DomainError(ErrorCode.Unavailable, 'Redis unreachable: the revocation list is not loaded yet; retry');
    if (this.revocations.find(identity)) throw new AuthError(ErrorCode.Forbidden, 'authorization revoked');
  }

  /** Mints a token with the configured secret (development CLI and POST /auth/token). */
  issueToken(request: IssueTokenRequest): IssuedToken {
    const { jwt } = this.config;
    // Without a secret the gateway verifies tokens minted elsewhere: there is nothing to issue with.
    if (jwt.kind !== 'secret') throw new DomainError(ErrorCode.NotFound, 'Not Found');
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
    if (typeof claims.sub !== 'string' || !isValidId(claims.sub)) throw invalid('token sub must be a 1-128 character well-formed string');
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
        throw invalid('client token must carry daemons: well-formed id strings');
      }
      daemons = new Set(list);
    }
    return {
      sub: claims.sub,
      role: claims.role,
      daemons,
      expiresAt: claims.exp,
      issuedAt: claims.iat,
      tokenId: typeof claims.jti === 'string' ? claims.jti : undefined,
    };
  }

  /**
   * The verifier of record. jsonwebtoken ignores `crit`; RFC 7515 §4.1.11 says a recipient that
   * does not understand a listed extension must reject the token, and we understand none.
   */
  private verifySlowly(token: string, key: KeyObject): Partial<TokenClaims> {
    if (hasCriticalHeader(token)) throw new AuthError(ErrorCode.Unauthorized, 'invalid token: critical header extensions (crit) are not supported');
    return this.verifierFor(key).verify<Partial<TokenClaims>>(token);
  }

  private verifierFor(key: KeyObject): JwtService {
    let verifier = this.verifierByKey.get(key);
    if (!verifier) {
      // jsonwebtoken takes KeyObjects; @nestjs/jwt's types only name strings and Buffers.
      const keyOption = key.type === 'secret' ? { secret: key as never } : { publicKey: key as never };
      verifier = new JwtService({ ...keyOption, verifyOptions: this.verifyOptions });
      this.verifierByKey.set(key, verifier);
    }
    return verifier;
  }

  private async jwksKeyFor(token: string): Promise<KeyObject> {
    // The header is read unverified only to pick a key; jku and x5u in it are never followed.
    const decoded = this.jwt.decode<{ header?: { kid?: unknown; alg?: unknown } } | null>(token, { complete: true });
    if (!decoded?.header) throw new AuthError(ErrorCode.Unauthorized, 'invalid token: malformed');
    const key = await this.jwks!.keyFor(decoded.header.kid);
    if (!key) throw new AuthError(ErrorCode.Unauthorized, 'invalid token: unknown key id');
    return key;
  }
}

/** Whether the token's header has a `crit` member; a header that does not parse is left to the verifier to refuse. */
function hasCriticalHeader(token: string): boolean {
  const end = token.indexOf('.');
  if (end < 0) return false;
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, end), 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && Object.hasOwn(header, 'crit');
  } catch {
    return false;
  }
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
