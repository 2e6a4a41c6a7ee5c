import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { CloseCode, ErrorCode, formatRetryHint, Role } from '@arbor/gateway-client/protocol';
import { AuthError } from '../../auth/auth.error.js';
import type { ConnectionIdentity, Principal } from '../../auth/principal.js';
import { disconnectMatches, revocationMatches, type DisconnectOrder, type Revocation } from '../../auth/revocation.js';
import { RevocationList } from '../../auth/revocation.list.js';
import { LogLevel } from '../../config/environment.js';
import { GatewayConfig } from '../../config/gateway-config.js';
import { DomainError, isUnavailable } from '../../errors/domain.error.js';
import { closeCodeLabel, GatewayMetrics, reasonLabel } from '../../metrics/gateway-metrics.js';
import { closeWithError, Connection } from './connection.js';
import { DeadlineWheel } from '../flow/deadline-wheel.js';
import { FanoutBackpressure } from '../flow/fanout-backpressure.js';
import { InboundLimiter, OverRateMode } from '../flow/inbound-limiter.js';
import { SlowConsumerMonitor } from '../flow/slow-consumer.monitor.js';

/** Authorization deadlines are checked this often: a connection ends at most this late. */
const AUTHORIZATION_SLOT_MS = 250;
/** Peers told to reconnect come back spread over this long, not all at once. */
const DISCONNECT_RETRY_SPREAD_MS = 1_000;

/** Closes that need no operator's attention: a peer leaving, or this gateway's own drain. */
const ORDINARY_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.Normal, CloseCode.GoingAway, CloseCode.ServiceRestart]);

/**
 * Every open connection of this instance, and what is kept per connection over its life: the
 * protocol pings that find half-open peers, the authorization deadline (4401 once the token has
 * expired past the grace), closing revoked connections (4403), the limits of its role, its place in
 * fan-out backpressure, and the connection metrics.
 */
@Injectable()
export class ConnectionRegistry implements OnModuleDestroy {
  private readonly logger = new Logger('DaemonGateway');
  /** Checked before building a connection's debug entry: two per connection, dropped at any other level. */
  private readonly logsDebug: boolean;
  private readonly open = new Set<Connection>();
  private pingTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly authorizationDeadlines = new DeadlineWheel<Connection>(AUTHORIZATION_SLOT_MS, (connection) => this.authorizationExpired(connection));
  /** The last `exp` formatted: tokens minted in the same second share it, and formatting a Date is not free. */
  private lastAuthorizationEnd = { expiresAt: NaN, text: '' };

  constructor(
    private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
    private readonly slowConsumers: SlowConsumerMonitor,
    private readonly fanout: FanoutBackpressure,
    private readonly revocations: RevocationList,
  ) {
    this.logsDebug = config.logLevel === LogLevel.Debug;
    revocations.onRevoked((revocation) => this.closeRevoked(revocation));
    revocations.onDisconnect((order) => this.closeOrdered(order));
    this.metrics.sources.outboundBuffered = () => {
      let total = 0;
      for (const connection of this.open) total += connection.bufferedAmount;
      return total;
    };
  }

  /** Starts the pings and the deadline checks (once the WebSocket server is up). */
  start(): void {
    this.pingTimer ??= setInterval(() => this.pingAll(), this.config.pingIntervalMs);
    this.deadlineTimer ??= setInterval(() => this.authorizationDeadlines.tick(), AUTHORIZATION_SLOT_MS);
    this.deadlineTimer.unref();
  }

  /** Pings and deadlines end (a drain closes everything anyway). */
  stop(): void {
    clearInterval(this.pingTimer);
    clearInterval(this.deadlineTimer);
    this.pingTimer = this.deadlineTimer = undefined;
  }

  onModuleDestroy(): void {
    this.stop();
  }

  get size(): number {
    return this.open.size;
  }

  connections(): Iterable<Connection> {
    return this.open;
  }

  /** Registers a socket admitted with `identity` (its token verified before the upgrade). */
  add(socket: WebSocket, identity: ConnectionIdentity, id: string): Connection {
    const { role } = identity.principal;
    const connection = new Connection(socket, identity, this.limiterFor(role), this.slowConsumers, this.metrics, id);
    this.open.add(connection);
    this.scheduleAuthorizationEnd(connection);
    if (role === Role.Daemon) this.fanout.attachDaemon(connection);
    // A multiplexed connection watches many daemons: it is held to the slow-consumer rule only.
    else if (!connection.subscriptions) this.fanout.addViewer(connection);
    socket.on('pong', () => (connection.isAlive = true));
    this.metrics.connects.labels(role).inc();
    this.metrics.connections.labels(role).inc();
    // Opens and ordinary closes are counted by metrics and logged at debug: at info they would be
    // thousands of lines a second in a reconnect storm, and cost a handshake a tenth of its CPU.
    if (this.logsDebug) this.logger.debug({ msg: 'connection admitted', connectionId: id, role, sub: identity.principal.sub, daemonId: identity.daemonId });
    return connection;
  }

  /**
   * Ends a socket refused at admission: 4401/4403/4400 with the reason for a refused token or
   * request, 1013 with a retry hint while shared state is away, 1011 for anything else.
   */
  refuse(socket: WebSocket, error: unknown, id: string): void {
    if (isUnavailable(error)) {
      this.logger.warn({ msg: 'connection deferred', connectionId: id, reason: error.message });
      socket.close(CloseCode.TryAgainLater, formatRetryHint(error.message, 500 + Math.random() * 1000));
      return;
    }
    if (!(error instanceof AuthError)) {
      this.logger.error({ msg: 'connection admission failed', connectionId: id, error: error instanceof Error ? error.message : String(error) });
      socket.close(CloseCode.InternalError, 'internal error');
      return;
    }
    this.logger.log({ msg: 'connection refused', connectionId: id, code: error.code, reason: error.message });
    this.metrics.authFailures.labels(reasonLabel(error.code)).inc();
    closeWithError(socket, error.closeCode, error.message);
  }

  /** The socket closed with `code` (1006 when it carried none). */
  remove(connection: Connection, code: number): void {
    if (!this.open.delete(connection)) return;
    connection.dispose();
    this.authorizationDeadlines.cancel(connection);
    const { principal, daemonId } = connection.identity;
    if (principal.role === Role.Daemon) this.fanout.detachDaemon(connection);
    else if (!connection.subscriptions) this.fanout.removeViewer(connection);
    this.metrics.connections.labels(principal.role).dec();
    this.metrics.disconnects.labels(principal.role, closeCodeLabel(code)).inc();
    const ordinary = ORDINARY_CLOSE_CODES.has(code);
    if (!ordinary || this.logsDebug) {
      const entry = { msg: 'connection closed', connectionId: connection.id, role: principal.role, daemonId, code };
      if (ordinary) this.logger.debug(entry);
      else this.logger.log(entry);
    }
  }

  /** The connection ends with 4401 once its token has expired and the grace period has passed. */
  scheduleAuthorizationEnd(connection: Connection): void {
    this.authorizationDeadlines.schedule(connection, connection.identity.principal.expiresAt * 1000 + this.config.tokenGraceMs);
  }

  /** When a connection's authorization ends, as sent to the peer: the token's exp. */
  authorizationEnd(principal: Principal): string {
    if (principal.expiresAt !== this.lastAuthorizationEnd.expiresAt) {
      this.lastAuthorizationEnd = { expiresAt: principal.expiresAt, text: new Date(principal.expiresAt * 1000).toISOString() };
    }
    return this.lastAuthorizationEnd.text;
  }

  /**
   * A fresh token on the live connection (`obtain` verifies it: same subject and role, access
   * re-checked); returns the new end of its authorization. An invalid token is refused
   * `unauthorized` and changes nothing (the connection still ends at its old deadline); one for
   * another identity, without access any more, or revoked also closes the connection with 4403.
   */
  async reauthorize(connection: Connection, obtain: () => Promise<ConnectionIdentity>): Promise<string> {
    let identity: ConnectionIdentity;
    try {
      identity = await obtain();
    } catch (error) {
      const code = error instanceof AuthError ? error.code : ErrorCode.Unauthorized;
      this.metrics.tokenRefreshes.labels(code).inc();
      if (code === ErrorCode.Forbidden) {
        this.metrics.authorizationCloses.labels('refresh_forbidden').inc();
        connection.close(CloseCode.Forbidden, (error as Error).message);
      }
      throw new DomainError(
        code === ErrorCode.Forbidden ? ErrorCode.Forbidden : ErrorCode.Unauthorized,
        error instanceof AuthError ? error.message : 'invalid token',
      );
    }
    connection.identity = identity;
    // A multiplexed connection keeps only the subscriptions the new token still allows.
    for (const subscription of [...(connection.subscriptions?.values() ?? [])]) {
      const watched = { principal: identity.principal, daemonId: subscription.daemonId };
      if (!identity.principal.daemons.has(subscription.daemonId) || this.revocations.find(watched)) subscription.end('forbidden');
    }
    this.scheduleAuthorizationEnd(connection);
    this.metrics.tokenRefreshes.labels('ok').inc();
    return this.authorizationEnd(identity.principal);
  }

  private authorizationExpired(connection: Connection): void {
    if (!connection.isOpen) return;
    this.metrics.authorizationCloses.labels('expired').inc();
    this.logger.log({ msg: 'authorization expired', connectionId: connection.id });
    connection.close(CloseCode.Unauthorized, 'token expired; reconnect with a fresh token');
  }

  /** Revoked on any instance: close what it covers here with 4403. */
  private closeRevoked(revocation: Revocation): void {
    for (const connection of this.open) {
      // A daemon revoked on a multiplexed connection ends that subscription only.
      for (const subscription of [...(connection.subscriptions?.values() ?? [])]) {
        if (revocationMatches(revocation, { principal: connection.identity.principal, daemonId: subscription.daemonId })) subscription.end('forbidden');
      }
      if (!revocationMatches(revocation, connection.identity)) continue;
      this.metrics.authorizationCloses.labels('revoked').inc();
      this.logger.log({ msg: 'authorization revoked', connectionId: connection.id, kind: revocation.kind });
      connection.close(CloseCode.Forbidden, 'authorization revoked');
    }
  }

  /** A server API disconnect: 1012 with a retry hint when the peer should come back, else 4403. */
  private closeOrdered(order: DisconnectOrder): void {
    for (const connection of this.open) {
      if (!disconnectMatches(order, connection.identity, connection.id)) continue;
      this.logger.log({ msg: 'connection closed by a disconnect order', connectionId: connection.id, target: order.target, reconnect: order.reconnect });
      if (order.reconnect) connection.close(CloseCode.ServiceRestart, formatRetryHint(order.reason, Math.random() * DISCONNECT_RETRY_SPREAD_MS));
      else connection.close(CloseCode.Forbidden, order.reason);
    }
  }

  /** Protocol-level pings: a peer that missed the previous ping is half-open and is terminated. */
  private pingAll(): void {
    for (const connection of this.open) {
      if (!connection.isAlive) {
        this.logger.warn({ msg: 'terminating unresponsive connection', connectionId: connection.id });
        connection.terminate();
        continue;
      }
      connection.isAlive = false;
      connection.socket.ping();
    }
  }

  private limiterFor(role: Role): InboundLimiter {
    return role === Role.Daemon
      ? new InboundLimiter(this.config.maxPayloadBytes, this.config.daemonMessageRate, OverRateMode.Throttle)
      : new InboundLimiter(this.config.clientMaxPayloadBytes, this.config.clientMessageRate, OverRateMode.Refuse);
  }
}
