import { Logger, OnModuleInit, UseFilters, UseGuards, UsePipes } from '@nestjs/common';
import { ConnectedSocket, MessageBody, OnGatewayConnection, OnGatewayDisconnect, OnGatewayInit, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import {
  ClientMessageType,
  CloseCode,
  DaemonMessageType,
  Role,
  ServerMessageType,
  WS_PATH,
  type AckPayload,
  type Frame,
  type StreamPosition,
  type SubscribedPayload,
  type TokenRefreshedPayload,
  type UnsubscribedPayload,
  type WorkspaceStatusPayload,
  ErrorCode,
  parsePosition,
} from '@arbor/gateway-client/protocol';
import { AuthService } from '../auth/auth.service.js';
import { RefreshTokenDto } from '../auth/dto/refresh-token.dto.js';
import { DaemonService } from '../daemons/daemon.service.js';
import { CommandService } from '../daemons/commands/command.service.js';
import { CancelTaskDto } from '../daemons/dto/cancel-task.dto.js';
import { CommandAckDto } from '../daemons/dto/command-ack.dto.js';
import { FileChangeDto } from '../daemons/dto/file-change.dto.js';
import { HeartbeatDto } from '../daemons/dto/heartbeat.dto.js';
import { RunTaskDto } from '../daemons/dto/run-task.dto.js';
import { TaskStatusDto } from '../daemons/dto/task-status.dto.js';
import { WorkspaceUpdateDto } from '../daemons/dto/workspace-update.dto.js';
import { DomainError, isUnavailable } from '../errors/domain.error.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { GetWorkspaceStatusDto } from '../workspaces/dto/get-workspace-status.dto.js';
import { daemonSession, resumePosition } from './connect-params.js';
import { Connection } from './connection.js';
import { ConnectionAdmission } from './connection-admission.js';
import { ConnectionRegistry } from './connection-registry.js';
import { DirectDispatch, DirectRoutes } from './direct-routes.js';
import { PayloadValidationPipe } from './payload-validation.pipe.js';
import { Roles } from './roles.decorator.js';
import { SubscribeDto, UnsubscribeDto } from './dto/subscribe.dto.js';
import { Subscription } from './subscription.js';
import { WsAuthGuard } from './ws-auth.guard.js';
import { WsErrorFilter } from './ws-error.filter.js';

/** The connection behind a handler's socket; WsAuthGuard (or direct dispatch) has proven it exists. */
function connectionOf(socket: WebSocket): Connection {
  return Connection.of(socket)!;
}

/**
 * The WebSocket edge of the daemon protocol: admits each connection to DaemonService as a daemon or
 * a client, and hands every message type to it. Connections, their limits and lifetimes live in
 * ConnectionRegistry; the drain in DrainService.
 */
@WebSocketGateway({ path: WS_PATH })
@UseGuards(WsAuthGuard)
@UsePipes(PayloadValidationPipe)
@UseFilters(WsErrorFilter)
export class DaemonGateway implements OnModuleInit, OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger(DaemonGateway.name);

  constructor(
    private readonly auth: AuthService,
    private readonly daemons: DaemonService,
    private readonly commands: CommandService,
    private readonly connections: ConnectionRegistry,
    private readonly admission: ConnectionAdmission,
    private readonly directRoutes: DirectRoutes,
    private readonly config: GatewayConfig,
  ) {}

  onModuleInit(): void {
    this.directRoutes.registerHandlers(this);
  }

  afterInit(): void {
    this.connections.start();
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const id = randomUUID();
    let connection: Connection;
    let since: StreamPosition | undefined;
    try {
      // The token was verified before the upgrade (ConnectionAdmission); its verdict applies here.
      const authentication = this.admission.authenticationOf(request);
      if ('error' in authentication) throw authentication.error;
      since = resumePosition(authentication.url.searchParams);
      const session = daemonSession(authentication.url.searchParams);
      connection = this.connections.add(socket, authentication.identity, id);
      connection.session = session;
    } catch (error) {
      return this.connections.refuse(socket, error, id);
    }
    const { principal, daemonId } = connection.identity;
    connection.enqueue(async () => {
      try {
        const authExpiresAt = this.connections.authorizationEnd(principal);
        if (principal.role === Role.Daemon) {
          const payload = await this.daemons.connectDaemon(daemonId, connection, connection.session);
          connection.resumeInbound(payload.lastSeq);
          connection.release({ type: ServerMessageType.Connected, payload: { ...payload, authExpiresAt } });
        } else if (connection.subscriptions) {
          // Multiplexed: nothing to watch yet; `subscribe` frames follow.
          connection.release({ type: ServerMessageType.Connected, payload: { multiplexed: true, authExpiresAt, timestamp: new Date().toISOString() } });
        } else {
          const admission = await this.daemons.connectClient(daemonId, connection, since, principal.sub);
          connection.release({ type: ServerMessageType.Connected, payload: { ...admission.connected, authExpiresAt } }, admission.follow, admission.afterSeq);
        }
      } catch (error) {
        // Never leave an admitted peer waiting for `connected`: tell it to come back.
        const retryable = isUnavailable(error);
        if (!retryable) this.logger.error({ msg: 'admission failed', connectionId: connection.id, error: String(error) });
        connection.close(retryable ? CloseCode.TryAgainLater : CloseCode.InternalError, retryable ? 'shared state unavailable; retry' : 'internal error');
      }
    });
  }

  /** Nest passes on what the socket's `close` event carried first: the close code. */
  handleDisconnect(socket: WebSocket, closeCode?: string): void {
    const connection = Connection.of(socket);
    if (!connection) return;
    this.connections.remove(connection, Number(closeCode ?? CloseCode.AbnormalClosure));
    const { principal, daemonId } = connection.identity;
    if (connection.subscriptions) {
      for (const subscription of [...connection.subscriptions.values()]) subscription.end();
      return;
    }
    connection.enqueue(() =>
      principal.role === Role.Daemon
        ? this.daemons.disconnectDaemon(daemonId, connection, connection.handover)
        : this.daemons.disconnectClient(daemonId, connection, principal.sub),
    );
  }

  // ---- both roles ----------------------------------------------------------------------------

  @SubscribeMessage(ClientMessageType.Ping)
  ping(): Frame {
    return { type: ServerMessageType.Pong };
  }

  /** A fresh token on the live connection (ConnectionRegistry.reauthorize says what is refused and how). */
  @SubscribeMessage(ClientMessageType.RefreshToken)
  async refreshToken(@ConnectedSocket() socket: WebSocket, @MessageBody() body: RefreshTokenDto): Promise<Frame<ServerMessageType, TokenRefreshedPayload>> {
    const connection = connectionOf(socket);
    const authExpiresAt = await this.connections.reauthorize(connection, () => this.auth.refreshIdentity(connection.identity, body.token));
    return { type: ServerMessageType.TokenRefreshed, payload: { authExpiresAt, timestamp: new Date().toISOString() } };
  }

  // ---- clients -------------------------------------------------------------------------------

  @Roles(Role.Client)
  @SubscribeMessage(ClientMessageType.GetWorkspaceStatus)
  async getWorkspaceStatus(
    @ConnectedSocket() socket: WebSocket,
    @MessageBody() body: GetWorkspaceStatusDto,
  ): Promise<Frame<ServerMessageType, WorkspaceStatusPayload>> {
    const payload = await this.daemons.getWorkspaceStatus(this.targetDaemon(connectionOf(socket), body.daemonId), body.workspaceId);
    return { type: ServerMessageType.WorkspaceStatus, payload: body.daemonId === undefined ? payload : { ...payload, daemonId: body.daemonId } };
  }

  /**
   * On a connection opened without `daemonId`: watch one more daemon. Checked against the token
   * (and revocations) like a connection's daemon; refused alone (`forbidden`, the connection
   * stays). Answered `subscribed` with the snapshot, then its missed events or `resync-required`.
   */
  @Roles(Role.Client)
  @SubscribeMessage(ClientMessageType.Subscribe)
  async subscribe(@ConnectedSocket() socket: WebSocket, @MessageBody() body: SubscribeDto): Promise<void> {
    const connection = connectionOf(socket);
    const subscriptions = this.multiplexedSubscriptions(connection);
    const { principal } = connection.identity;
    const daemonId = this.allowedDaemon(connection, body.daemonId);
    if (subscriptions.has(daemonId)) throw new DomainError(ErrorCode.BadRequest, `already subscribed to daemon "${daemonId}"`, 'daemonId');
    if (subscriptions.size >= this.config.maxSubscriptionsPerConnection) {
      throw new DomainError(ErrorCode.BadRequest, `a connection may hold at most ${this.config.maxSubscriptionsPerConnection} subscriptions`, 'daemonId');
    }
    const subscription = new Subscription(connection, daemonId, (ended) => this.unwatch(connection, ended), body.coalesceMs);
    subscriptions.set(daemonId, subscription);
    const id = connection.currentFrameId;
    let admission: Awaited<ReturnType<DaemonService['connectClient']>>;
    try {
      admission = await this.daemons.connectClient(daemonId, subscription, body.since === undefined ? undefined : parsePosition(body.since), principal.sub);
    } catch (error) {
      subscription.end();
      throw error;
    }
    if (subscription.isEnded) return;
    const subscribed: Frame = { type: ServerMessageType.Subscribed, payload: admission.connected satisfies SubscribedPayload };
    if (id !== undefined) subscribed.id = id;
    subscription.release(subscribed, admission.follow, admission.afterSeq);
  }

  @Roles(Role.Client)
  @SubscribeMessage(ClientMessageType.Unsubscribe)
  unsubscribe(@ConnectedSocket() socket: WebSocket, @MessageBody() body: UnsubscribeDto): Frame<ServerMessageType, UnsubscribedPayload> {
    const connection = connectionOf(socket);
    // Ending it first: nothing of the daemon follows the reply.
    this.multiplexedSubscriptions(connection).get(body.daemonId)?.end();
    return { type: ServerMessageType.Unsubscribed, payload: { daemonId: body.daemonId } };
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
    this.daemons.relayEvent(connection.identity.daemonId, connection, DaemonMessageType.TaskStatus, body, connection.inbound(), connection.currentTraceContext);
  }

  @Roles(Role.Daemon)
  @SubscribeMessage(DaemonMessageType.CommandAck)
  commandAck(@ConnectedSocket() socket: WebSocket, @MessageBody() body: CommandAckDto): Promise<void> {
    const connection = connectionOf(socket);
    return this.commands.confirmed(connection.identity.daemonId, connection, body.id);
  }

  private async command(
    socket: WebSocket,
    type: ClientMessageType.RunTask | ClientMessageType.CancelTask,
    body: RunTaskDto | CancelTaskDto,
  ): Promise<Frame<ServerMessageType, AckPayload>> {
    const connection = connectionOf(socket);
    const { principal } = connection.identity;
    const { daemonId: named, ...payload } = body;
    const daemonId = this.targetDaemon(connection, named);
    // The frame's id is the command id: a retry with the same id is not executed twice.
    // The connection that sent it hears later whether the daemon confirmed it (`command-status`).
    return {
      type: ServerMessageType.Ack,
      payload: await this.commands.sendCommand(daemonId, principal, type, payload, connection.currentFrameId, connection.currentTraceContext, connection),
    };
  }

  /** The subscriptions of a multiplexed connection; `subscribe` on any other is a bad request. */
  private multiplexedSubscriptions(connection: Connection): Map<string, Subscription> {
    if (!connection.subscriptions) throw new DomainError(ErrorCode.BadRequest, 'subscribe and unsubscribe need a connection opened without daemonId');
    return connection.subscriptions;
  }

  /** A daemon this connection's token reaches and no revocation covers; `forbidden` otherwise. */
  private allowedDaemon(connection: Connection, daemonId: string): string {
    const identity = { principal: connection.identity.principal, daemonId };
    this.auth.assertDaemonAccess(identity.principal, daemonId);
    this.auth.assertNotRevoked(identity);
    return daemonId;
  }

  /**
   * The daemon a request is for: the connection's, or on a multiplexed connection the payload's
   * `daemonId` (required there, checked like a subscription). A single-daemon connection naming
   * another daemon is refused.
   */
  private targetDaemon(connection: Connection, named: string | undefined): string {
    if (!connection.subscriptions) {
      if (named !== undefined && named !== connection.identity.daemonId)
        throw new DomainError(ErrorCode.Forbidden, 'this connection is for another daemon', 'daemonId');
      return connection.identity.daemonId;
    }
    if (named === undefined) throw new DomainError(ErrorCode.ValidationFailed, 'daemonId is required on a connection opened without daemonId', 'daemonId');
    return this.allowedDaemon(connection, named);
  }

  /** A subscription ended: the daemon's watcher is gone (in the connection's order). */
  private unwatch(connection: Connection, subscription: Subscription): void {
    connection.enqueue(() => this.daemons.disconnectClient(subscription.daemonId, subscription, connection.identity.principal.sub));
  }
}
