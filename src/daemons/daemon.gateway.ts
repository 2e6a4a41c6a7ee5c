import { BeforeApplicationShutdown, Logger, OnModuleInit, UseFilters, UseGuards, UsePipes } from '@nestjs/common';
import { MESSAGE_METADATA } from '@nestjs/websockets/constants.js';
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayConnection,
  OnGatewayDisconnect,
  OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import {
  ClientMessageType,
  CloseCode,
  DaemonMessageType,
  ErrorCode,
  Role,
  ServerMessageType,
  WS_PATH,
  formatRetryHint,
  parsePosition,
  SESSION_PATTERN,
  type AckPayload,
  type TokenRefreshedPayload,
  type StreamPosition,
  type Frame,
  type WorkspaceStatusPayload,
} from '@arbor/gateway-client/protocol';
import { AuthError } from '../auth/auth.error.js';
import { AuthService } from '../auth/auth.service.js';
import type { ConnectionIdentity, Principal } from '../auth/principal.js';
import { revocationMatches, type Revocation } from '../auth/revocation.js';
import { RevocationList } from '../auth/revocation.list.js';
import { ConnectionAdmission } from '../gateway/connection-admission.js';
import { InboundLimiter, OverRateMode } from '../gateway/inbound-limiter.js';
import { DeadlineWheel } from '../gateway/deadline-wheel.js';
import { FanoutBackpressure } from '../gateway/fanout-backpressure.js';
import { RefreshTokenDto } from '../auth/dto/refresh-token.dto.js';
import { Roles, ROLES_KEY } from '../auth/roles.decorator.js';
import { WsAuthGuard } from '../auth/ws-auth.guard.js';
import { LogLevel } from '../config/environment.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { closeWithError, Connection } from '../gateway/connection.js';
import { DIRECT_DISPATCH_KEY, DirectDispatch, DirectRoutes } from '../gateway/direct-routes.js';
import { GatewayException } from '../gateway/gateway.exception.js';
import { PayloadValidationPipe, validatorFor } from '../gateway/payload-validation.pipe.js';
import { SlowConsumerMonitor } from '../gateway/slow-consumer.monitor.js';
import { LifecycleState } from '../lifecycle/lifecycle.state.js';
import { closeCodeLabel, GatewayMetrics, reasonLabel } from '../metrics/gateway-metrics.js';
import { WsErrorFilter } from '../gateway/ws-error.filter.js';
import { GetWorkspaceStatusDto } from '../workspaces/dto/get-workspace-status.dto.js';
import { DaemonService } from './daemon.service.js';
import { CancelTaskDto } from './dto/cancel-task.dto.js';
import { FileChangeDto } from './dto/file-change.dto.js';
import { HeartbeatDto } from './dto/heartbeat.dto.js';
import { RunTaskDto } from './dto/run-task.dto.js';
import { TaskStatusDto } from './dto/task-status.dto.js';
import { WorkspaceUpdateDto } from './dto/workspace-update.dto.js';

/** Closes that need no operator's attention: a peer leaving, or this gateway's own drain. */
const ORDINARY_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.Normal, CloseCode.GoingAway, CloseCode.ServiceRestart]);

/** The `since={epoch}:{seq}` a resuming client sends; malformed is a bad connect request. */
function resumePosition(query: URLSearchParams): StreamPosition | undefined {
  const value = query.get('since');
  if (value === null) return undefined;
  const position = parsePosition(value);
  if (!position) throw new AuthError(ErrorCode.BadRequest, 'since must be {epoch}:{seq}');
  return position;
}

/** A daemon's `session` connect parameter, naming the numbering of its events. */
function daemonSession(query: URLSearchParams): string | undefined {
  const value = query.get('session');
  if (value === null) return undefined;
  if (!SESSION_PATTERN.test(value)) throw new AuthError(ErrorCode.BadRequest, 'session must be 1-64 characters of A-Z a-z 0-9 _ -');
  return value;
}

/** The connection behind a handler's socket; WsAuthGuard (or direct dispatch) has proven it exists. */
function connectionOf(socket: WebSocket): Connection {
  return Connection.of(socket)!;
}

/** The last `exp` formatted: tokens minted in the same second share it, and formatting a Date is not free. */
let lastAuthorizationEnd = { expiresAt: NaN, text: '' };

/** When a connection's authorization ends, as sent to the peer: the token's exp. */
function authorizationEnd(principal: Principal): string {
  if (principal.expiresAt !== lastAuthorizationEnd.expiresAt) {
    lastAuthorizationEnd = { expiresAt: principal.expiresAt, text: new Date(principal.expiresAt * 1000).toISOString() };
  }
  return lastAuthorizationEnd.text;
}

/** Authorization deadlines are checked this often: a connection ends at most this late. */
const AUTHORIZATION_SLOT_MS = 250;

/** How long shutdown waits for peers to answer the close frame before terminating them. */
const SHUTDOWN_CLOSE_TIMEOUT_MS = 2_000;
/** The drain closes one batch of connections this often. */
const DRAIN_BATCH_EVERY_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * The WebSocket edge: admits connections through AuthService, keeps them alive with protocol
 * pings, and hands each message type to DaemonService. Thin by design: no routing logic here.
 */
@WebSocketGateway({ path: WS_PATH })
@UseGuards(WsAuthGuard)
@UsePipes(PayloadValidationPipe)
@UseFilters(WsErrorFilter)
export class DaemonGateway implements OnModuleInit, OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, BeforeApplicationShutdown {
  private readonly logger = new Logger(DaemonGateway.name);
  /** Checked before building a connection's debug entry: two per connection, dropped at any other level. */
  private readonly logsDebug: boolean;
  private server: WebSocketServer | undefined;
  private draining: Promise<void> | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** Authorization deadlines of every connection, checked every quarter second. */
  private readonly authorizationDeadlines = new DeadlineWheel<Connection>(AUTHORIZATION_SLOT_MS, (connection) => this.authorizationExpired(connection));

  constructor(
    private readonly auth: AuthService,
    private readonly daemons: DaemonService,
    private readonly config: GatewayConfig,
    private readonly directRoutes: DirectRoutes,
    private readonly slowConsumers: SlowConsumerMonitor,
    private readonly lifecycle: LifecycleState,
    private readonly metrics: GatewayMetrics,
    private readonly admission: ConnectionAdmission,
    private readonly revocations: RevocationList,
    private readonly fanout: FanoutBackpressure,
  ) {
    this.logsDebug = config.logLevel === LogLevel.Debug;
  }

  /** Registers the @DirectDispatch handlers with the adapter's fast path. */
  onModuleInit(): void {
    const prototype = DaemonGateway.prototype as unknown as Record<string, (socket: WebSocket, body: object) => void>;
    for (const name of Object.getOwnPropertyNames(DaemonGateway.prototype)) {
      const method = prototype[name];
      if (typeof method !== 'function') continue;
      const dto = Reflect.getMetadata(DIRECT_DISPATCH_KEY, method) as (new () => object) | undefined;
      const type = Reflect.getMetadata(MESSAGE_METADATA, method) as string | undefined;
      if (!dto || !type) continue;
      const validate = validatorFor(dto);
      if (!validate) throw new Error(`${name}: @DirectDispatch needs a DTO the validator compiler supports`);
      this.directRoutes.register(type, {
        roles: Reflect.getMetadata(ROLES_KEY, method) as Role[] | undefined,
        validate,
        handle: (connection, payload) => method.call(this, connection.socket, payload),
      });
    }
  }

  afterInit(server: WebSocketServer): void {
    this.server = server;
    this.revocations.onRevoked((revocation) => this.closeRevoked(revocation));
    this.metrics.sources.outboundBuffered = () => {
      let total = 0;
      for (const socket of server.clients) total += socket.bufferedAmount;
      return total;
    };
    this.pingTimer = setInterval(() => this.pingAll(), this.config.pingIntervalMs);
    this.deadlineTimer = setInterval(() => this.authorizationDeadlines.tick(), AUTHORIZATION_SLOT_MS);
    this.deadlineTimer.unref();
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    let connection: Connection;
    let since: StreamPosition | undefined;
    const connectionId = randomUUID();
    try {
      // The token was verified before the upgrade (ConnectionAdmission); its verdict applies here.
      const authentication = this.admission.authenticationOf(request);
      if ('error' in authentication) throw authentication.error;
      const { identity, url } = authentication;
      since = resumePosition(url.searchParams);
      const session = daemonSession(url.searchParams);
      connection = new Connection(socket, identity, this.limiterFor(identity.principal.role), this.slowConsumers, this.metrics, connectionId);
      connection.session = session;
    } catch (error) {
      return this.refuse(socket, error, connectionId);
    }
    this.enforceAuthorization(connection);
    if (connection.identity.principal.role === Role.Daemon) this.fanout.attachDaemon(connection);
    else this.fanout.addViewer(connection);
    socket.on('pong', () => (connection.isAlive = true));
    const { principal, daemonId } = connection.identity;
    this.metrics.connects.labels(principal.role).inc();
    this.metrics.connections.labels(principal.role).inc();
    // Opens and ordinary closes are counted by metrics and logged at debug: at info they would be
    // thousands of lines a second in a reconnect storm, and cost a handshake a tenth of its CPU.
    if (this.logsDebug) this.logger.debug({ msg: 'connection admitted', connectionId: connection.id, role: principal.role, sub: principal.sub, daemonId });
    connection.enqueue(async () => {
      try {
        const authExpiresAt = authorizationEnd(connection.identity.principal);
        if (principal.role === Role.Daemon) {
          const payload = await this.daemons.connectDaemon(daemonId, connection, connection.session);
          connection.resumeInbound(payload.lastSeq);
          connection.release({ type: ServerMessageType.Connected, payload: { ...payload, authExpiresAt } });
        } else {
          const admission = await this.daemons.connectClient(daemonId, connection, since);
          connection.release({ type: ServerMessageType.Connected, payload: { ...admission.connected, authExpiresAt } }, admission.follow, admission.afterSeq);
        }
      } catch (error) {
        // Never leave an admitted peer waiting for `connected`: tell it to come back.
        const retryable = error instanceof GatewayException && error.code === ErrorCode.Unavailable;
        if (!retryable) this.logger.error({ msg: 'admission failed', connectionId: connection.id, error: String(error) });
        connection.close(retryable ? CloseCode.TryAgainLater : CloseCode.InternalError, retryable ? 'shared state unavailable; retry' : 'internal error');
      }
    });
  }

  /** Nest passes on what the socket's `close` event carried first: the close code. */
  handleDisconnect(socket: WebSocket, closeCode?: string): void {
    const connection = Connection.of(socket);
    if (!connection) return;
    connection.dispose();
    this.authorizationDeadlines.cancel(connection);
    const { principal, daemonId } = connection.identity;
    if (principal.role === Role.Daemon) this.fanout.detachDaemon(connection);
    else this.fanout.removeViewer(connection);
    this.metrics.connections.labels(principal.role).dec();
    const code = Number(closeCode ?? CloseCode.AbnormalClosure);
    this.metrics.disconnects.labels(principal.role, closeCodeLabel(code)).inc();
    const ordinary = ORDINARY_CLOSE_CODES.has(code);
    if (!ordinary || this.logsDebug) {
      const entry = { msg: 'connection closed', connectionId: connection.id, role: principal.role, daemonId, code };
      if (ordinary) this.logger.debug(entry);
      else this.logger.log(entry);
    }
    connection.enqueue(() =>
      principal.role === Role.Daemon
        ? this.daemons.disconnectDaemon(daemonId, connection, connection.handover)
        : this.daemons.disconnectClient(daemonId, connection),
    );
  }

  // ---- both roles ----------------------------------------------------------------------------

  @SubscribeMessage(ClientMessageType.Ping)
  ping(): Frame {
    return { type: ServerMessageType.Pong };
  }

  /**
   * A fresh token on the live connection: same subject and role, access re-checked. An invalid
   * token is answered `unauthorized` and changes nothing (the connection still ends at its old
   * deadline); one for another identity, without access any more, or revoked closes with 4403.
   */
  @SubscribeMessage(ClientMessageType.RefreshToken)
  async refreshToken(@ConnectedSocket() socket: WebSocket, @MessageBody() body: RefreshTokenDto): Promise<Frame<ServerMessageType, TokenRefreshedPayload>> {
    const connection = connectionOf(socket);
    let identity: ConnectionIdentity;
    try {
      identity = await this.auth.refreshIdentity(connection.identity, body.token);
    } catch (error) {
      const code = error instanceof AuthError ? error.code : ErrorCode.Unauthorized;
      this.metrics.tokenRefreshes.labels(code).inc();
      if (code === ErrorCode.Forbidden) {
        this.metrics.authorizationCloses.labels('refresh_forbidden').inc();
        connection.close(CloseCode.Forbidden, (error as Error).message);
      }
      throw new GatewayException(code === ErrorCode.Forbidden ? ErrorCode.Forbidden : ErrorCode.Unauthorized, error instanceof AuthError ? error.message : 'invalid token');
    }
    connection.identity = identity;
    this.enforceAuthorization(connection);
    this.metrics.tokenRefreshes.labels('ok').inc();
    return { type: ServerMessageType.TokenRefreshed, payload: { authExpiresAt: authorizationEnd(identity.principal), timestamp: new Date().toISOString() } };
  }

  // ---- clients -------------------------------------------------------------------------------

  @Roles(Role.Client)
  @SubscribeMessage(ClientMessageType.GetWorkspaceStatus)
  async getWorkspaceStatus(@ConnectedSocket() socket: WebSocket, @MessageBody() body: GetWorkspaceStatusDto): Promise<Frame<ServerMessageType, WorkspaceStatusPayload>> {
    const payload = await this.daemons.getWorkspaceStatus(connectionOf(socket).identity.daemonId, body.workspaceId);
    return { type: ServerMessageType.WorkspaceStatus, payload };
  }

  @Roles(Role.Client)
  @SubscribeMessage(ClientMessageType.RunTask)
  runTask(@ConnectedSocket() socket: WebSocket, @MessageBody() body: RunTaskDto): Promise<Frame<ServerMessageType, AckPayload>> {
    return this.command(socket, ClientMessageType.RunTask, body);
  }

  @Roles(Role.Client)
  @SubscribeMessage(ClientMessageType.CancelTask)
  cancelTask(@ConnectedSocket() socket: WebSocket, @MessageBody() body: CancelTaskDto): Promise<Frame<ServerMessageType, AckPayload>> {
    return this.command(socket, ClientMessageType.CancelTask, body);
  }

  // ---- daemons -------------------------------------------------------------------------------

  @Roles(Role.Daemon)
  @SubscribeMessage(DaemonMessageType.Heartbeat)
  async heartbeat(@ConnectedSocket() socket: WebSocket, @MessageBody() body: HeartbeatDto): Promise<void> {
    const connection = connectionOf(socket);
    await this.daemons.heartbeat(connection.identity.daemonId, connection, body.workspaceIds);
  }

  @Roles(Role.Daemon)
  @SubscribeMessage(DaemonMessageType.WorkspaceUpdate)
  async workspaceUpdate(@ConnectedSocket() socket: WebSocket, @MessageBody() body: WorkspaceUpdateDto): Promise<void> {
    const connection = connectionOf(socket);
    await this.daemons.updateWorkspace(connection.identity.daemonId, connection, body, connection.inbound());
  }

  // Validated payloads carry exactly the DTO's fields (unknown ones are refused), so they are
  // forwarded as they are.
  @Roles(Role.Daemon)
  @DirectDispatch(FileChangeDto)
  @SubscribeMessage(DaemonMessageType.FileChange)
  fileChange(@ConnectedSocket() socket: WebSocket, @MessageBody() body: FileChangeDto): void {
    const connection = connectionOf(socket);
    this.daemons.relayEvent(connection.identity.daemonId, connection, DaemonMessageType.FileChange, body, connection.inbound());
  }

  @Roles(Role.Daemon)
  @DirectDispatch(TaskStatusDto)
  @SubscribeMessage(DaemonMessageType.TaskStatus)
  taskStatus(@ConnectedSocket() socket: WebSocket, @MessageBody() body: TaskStatusDto): void {
    const connection = connectionOf(socket);
    this.daemons.relayEvent(connection.identity.daemonId, connection, DaemonMessageType.TaskStatus, body, connection.inbound());
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /**
   * The drain (Nest's adapter would terminate sockets without a close frame): refuse new work at
   * once, wait DRAIN_DELAY_MS for the load balancer to notice, then close every connection with
   * 1012 in batches spread over DRAIN_WINDOW_MS, each with a jittered retry hint, so the
   * reconnects land on other replicas without a spike. Queued frames go out before each close
   * frame. Daemons are handed over: they are not announced offline unless they fail to return.
   */
  async drain(): Promise<void> {
    this.draining ??= this.runDrain();
    return this.draining;
  }

  /** Nest is closing: finish (or run) the drain before it tears sockets and Redis down. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.drain();
  }

  private async runDrain(): Promise<void> {
    this.lifecycle.beginShutdown();
    const { drainDelayMs, drainWindowMs } = this.config;
    this.logger.log({ msg: 'draining', connections: this.server?.clients.size ?? 0, drainDelayMs, drainWindowMs });
    await sleep(drainDelayMs);
    clearInterval(this.pingTimer);
    clearInterval(this.deadlineTimer);
    const sockets = shuffle([...(this.server?.clients ?? [])]);
    const closed = sockets.map((socket) => new Promise<void>((resolve) => (socket.readyState === socket.CLOSED ? resolve() : socket.once('close', () => resolve()))));
    this.metrics.draining.set(1);
    this.metrics.drainRemaining.set(sockets.length);
    const batches = Math.max(1, Math.floor(drainWindowMs / DRAIN_BATCH_EVERY_MS));
    const perBatch = Math.ceil(sockets.length / batches);
    for (let start = 0; start < sockets.length; start += perBatch) {
      for (const socket of sockets.slice(start, start + perBatch)) {
        const connection = Connection.of(socket);
        const reason = formatRetryHint('server draining', Math.random() * DRAIN_BATCH_EVERY_MS);
        if (connection) {
          connection.handover = true;
          connection.close(CloseCode.ServiceRestart, reason);
        } else if (socket.readyState === socket.OPEN) socket.close(CloseCode.ServiceRestart, reason);
      }
      this.metrics.drainRemaining.set(Math.max(0, sockets.length - start - perBatch));
      if (start + perBatch < sockets.length) await sleep(DRAIN_BATCH_EVERY_MS);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_CLOSE_TIMEOUT_MS)))]);
    clearTimeout(timer);
    for (const socket of sockets) if (socket.readyState !== socket.CLOSED) socket.terminate();
    this.logger.log({ msg: 'drained', connections: sockets.length });
  }

  private async command(socket: WebSocket, type: ClientMessageType.RunTask | ClientMessageType.CancelTask, payload: object): Promise<Frame<ServerMessageType, AckPayload>> {
    const connection = connectionOf(socket);
    const { daemonId, principal } = connection.identity;
    // The frame's id is the command id: a retry with the same id is not executed twice.
    return { type: ServerMessageType.Ack, payload: await this.daemons.sendCommand(daemonId, principal, type, payload, connection.currentFrameId) };
  }

  /** Closes the connection with 4401 once its token has expired and the grace period has passed. */
  private enforceAuthorization(connection: Connection): void {
    this.authorizationDeadlines.schedule(connection, connection.identity.principal.expiresAt * 1000 + this.config.tokenGraceMs);
  }

  private authorizationExpired(connection: Connection): void {
    if (!connection.isOpen) return;
    this.metrics.authorizationCloses.labels('expired').inc();
    this.logger.log({ msg: 'authorization expired', connectionId: connection.id });
    connection.close(CloseCode.Unauthorized, 'token expired; reconnect with a fresh token');
  }

  /** Revoked on any instance: close what it covers here with 4403. */
  private closeRevoked(revocation: Revocation): void {
    for (const socket of this.server?.clients ?? []) {
      const connection = Connection.of(socket);
      if (!connection || !revocationMatches(revocation, connection.identity)) continue;
      this.metrics.authorizationCloses.labels('revoked').inc();
      this.logger.log({ msg: 'authorization revoked', connectionId: connection.id, kind: revocation.kind });
      connection.close(CloseCode.Forbidden, 'authorization revoked');
    }
  }

  private limiterFor(role: Role): InboundLimiter {
    return role === Role.Daemon
      ? new InboundLimiter(this.config.maxPayloadBytes, this.config.daemonMessageRate, OverRateMode.Throttle)
      : new InboundLimiter(this.config.clientMaxPayloadBytes, this.config.clientMessageRate, OverRateMode.Refuse);
  }

  private refuse(socket: WebSocket, error: unknown, connectionId: string): void {
    if (error instanceof GatewayException && error.code === ErrorCode.Unavailable) {
      this.logger.warn({ msg: 'connection deferred', connectionId, reason: error.message });
      socket.close(CloseCode.TryAgainLater, formatRetryHint(error.message, 500 + Math.random() * 1000));
      return;
    }
    if (!(error instanceof AuthError)) {
      this.logger.error({ msg: 'connection admission failed', connectionId, error: error instanceof Error ? error.message : String(error) });
      socket.close(CloseCode.InternalError, 'internal error');
      return;
    }
    this.logger.log({ msg: 'connection refused', connectionId, code: error.code, reason: error.message });
    this.metrics.authFailures.labels(reasonLabel(error.code)).inc();
    closeWithError(socket, error.closeCode, error.message);
  }

  /** Protocol-level pings: a peer that missed the previous ping is half-open and is terminated. */
  private pingAll(): void {
    for (const socket of this.server?.clients ?? []) {
      const connection = Connection.of(socket);
      if (!connection) continue;
      if (!connection.isAlive) {
        this.logger.warn({ msg: 'terminating unresponsive connection', connectionId: connection.id });
        socket.terminate();
        continue;
      }
      connection.isAlive = false;
      socket.ping();
    }
  }
}
