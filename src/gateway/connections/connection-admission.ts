import { Injectable, Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { AuthService } from '../../auth/auth.service.js';
import type { ConnectionIdentity } from '../../auth/principal.js';
import { GatewayConfig } from '../../config/gateway-config.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { OriginPolicy } from './origin-policy.js';
import { clientAddress } from '../../edge/client-address.js';
import { KeyedTokenBuckets } from '../../edge/token-bucket.js';
import { AuthError } from '../../auth/auth.error.js';
import { Attr, SpanKind, startSpan, tracing } from '../../tracing/tracing.js';

export enum RefusalReason {
  Origin = 'origin',
  InstanceCap = 'instance_cap',
  UserCap = 'user_cap',
  HandshakeRate = 'handshake_rate',
}

/** An upgrade answered with an HTTP status before any WebSocket handshake. */
export interface UpgradeRefusal {
  reason: RefusalReason;
  status: 403 | 429 | 503;
  retryAfterSeconds?: number;
}

/** The outcome of authentication, handed from the upgrade to the connection handler with the parsed URL. */
export type Authentication = ({ identity: ConnectionIdentity } | { error: unknown }) & { url: URL };

/** Per-IP handshake buckets are dropped once full again, at most this often. */
const BUCKET_SWEEP_INTERVAL_MS = 10_000;

/**
 * Decides every upgrade before the WebSocket handshake: Origin, the instance's connection cap, the
 * handshake rate per client address, then the token (once: the connection handler reuses the
 * result) and the per-user cap. Refusals here are plain HTTP answers (403, 429, 503 with
 * Retry-After) and cost no WebSocket. A bad token is not refused here: the socket is upgraded and
 * closed with 4401/4403, which a browser can read while it cannot read an HTTP status.
 */
@Injectable()
export class ConnectionAdmission {
  private readonly logger = new Logger(ConnectionAdmission.name);
  private readonly origins: OriginPolicy;
  private readonly handshakeBuckets: KeyedTokenBuckets;
  private readonly perUser = new Map<string, number>();
  private readonly results = new WeakMap<IncomingMessage, Authentication>();
  private open = 0;

  constructor(
    private readonly auth: AuthService,
    private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
  ) {
    this.origins = new OriginPolicy(config.allowedOrigins);
    this.handshakeBuckets = new KeyedTokenBuckets(config.handshakeRatePerIp, performance.now(), BUCKET_SWEEP_INTERVAL_MS);
  }

  /** TCP connections admitted past the cap checks and not yet closed. */
  get openConnections(): number {
    return this.open;
  }

  /** `url` is the request's, parsed once by the caller and reused here and by the connection handler. */
  async admit(request: IncomingMessage, socket: Duplex, url: URL): Promise<UpgradeRefusal | undefined> {
    if (!tracing.on) return this.decide(request, socket, url);
    // The handshake span: what was decided, never the token or the query string.
    const span = startSpan('arbor.handshake', SpanKind.SERVER, {});
    const refusal = await this.decide(request, socket, url);
    const authentication = this.results.get(request);
    const outcome = refusal
      ? refusal.reason
      : authentication && 'error' in authentication
        ? `token_${authentication.error instanceof AuthError ? authentication.error.code : 'error'}`
        : 'admitted';
    span?.setAttribute(Attr.Outcome, outcome);
    if (authentication && 'identity' in authentication) span?.setAttribute(Attr.Role, authentication.identity.principal.role);
    span?.end();
    return refusal;
  }

  private async decide(request: IncomingMessage, socket: Duplex, url: URL): Promise<UpgradeRefusal | undefined> {
    if (!this.origins.allows(request.headers.origin)) return this.refuse(RefusalReason.Origin, 403, request);
    if (this.open >= this.config.maxConnections) return this.refuse(RefusalReason.InstanceCap, 503, request, 1);
    const wait = this.handshakeBuckets.tryTake(clientAddress(request, this.config.clientIpHeader), performance.now());
    if (wait > 0) return this.refuse(RefusalReason.HandshakeRate, 429, request, Math.ceil(wait / 1000));

    let authentication: Authentication;
    try {
      authentication = { identity: await this.auth.authenticateConnection(url, request.headers), url };
    } catch (error) {
      authentication = { error, url };
    }
    // Gone while its token was verified: its 'close' has fired, so nothing may be counted for it.
    if (socket.destroyed) return undefined;
    // Checked again: other upgrades may have been admitted while this one was verified.
    if (this.open >= this.config.maxConnections) return this.refuse(RefusalReason.InstanceCap, 503, request, 1);
    const sub = 'identity' in authentication ? authentication.identity.principal.sub : undefined;
    if (sub !== undefined && (this.perUser.get(sub) ?? 0) >= this.config.maxConnectionsPerUser) {
      return this.refuse(RefusalReason.UserCap, 429, request, 1);
    }
    this.reserve(socket, sub);
    this.results.set(request, authentication);
    return undefined;
  }

  /** What `admit` found for this request's token. */
  authenticationOf(request: IncomingMessage): Authentication {
    return this.results.get(request) ?? { error: new Error('upgrade bypassed admission'), url: new URL('/', 'http://gateway.invalid') };
  }

  /** Counts the connection until its TCP socket closes, whatever happens to the handshake. */
  private reserve(socket: Duplex, sub: string | undefined): void {
    this.open += 1;
    if (sub !== undefined) this.perUser.set(sub, (this.perUser.get(sub) ?? 0) + 1);
    socket.once('close', () => {
      this.open -= 1;
      if (sub === undefined) return;
      const left = (this.perUser.get(sub) ?? 1) - 1;
      if (left <= 0) this.perUser.delete(sub);
      else this.perUser.set(sub, left);
    });
  }

  private refuse(reason: RefusalReason, status: UpgradeRefusal['status'], request: IncomingMessage, retryAfterSeconds?: number): UpgradeRefusal {
    this.metrics.handshakeRefusals.labels(reason).inc();
    this.logger.debug({ msg: 'upgrade refused', reason, status, address: request.socket.remoteAddress });
    return { reason, status, retryAfterSeconds };
  }
}
