import { OnModuleInit, UseFilters, UseGuards, UsePipes } from '@nestjs/common';
import { ConnectedSocket, MessageBody, OnGatewayConnection, OnGatewayDisconnect, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import {
  ClientMessageType,
  DaemonMessageType,
  Role,
  ServerMessageType,
  WS_PATH,
  type AckPayload,
  type Frame,
  type TokenRefreshedPayload,
  type UnsubscribedPayload,
  type WorkspaceStatusPayload,
} from '@arbor/gateway-client/protocol';
import { AuthService } from '../auth/auth.service.js';
import { RefreshTokenDto } from '../auth/dto/refresh-token.dto.js';
import { DaemonService } from '../daemons/daemon.service.js';
import { WatchPolicy } from '../daemons/watch-policy.js';
import { CommandService } from '../daemons/commands/command.service.js';
import { CancelTaskDto } from '../daemons/dto/cancel-task.dto.js';
import { CommandAckDto } from '../daemons/dto/command-ack.dto.js';
import { FileChangeDto } from '../daemons/dto/file-change.dto.js';
import { HeartbeatDto } from '../daemons/dto/heartbeat.dto.js';
import { RunTaskDto } from '../daemons/dto/run-task.dto.js';
import { TaskStatusDto } from '../daemons/dto/task-status.dto.js';
import { WorkspaceUpdateDto } from '../daemons/dto/workspace-update.dto.js';
import { GetWorkspaceStatusDto } from '../workspaces/dto/get-workspace-status.dto.js';
import { Connection } from './connections/connection.js';
import { ConnectionRegistry } from './connections/connection-registry.js';
import { MultiplexedWatches } from './connections/multiplexed-watches.js';
import { PeerSessions } from './connections/peer-sessions.js';
import { DirectDispatch, DirectRoutes, Handles } from './dispatch/direct-routes.js';
import { PayloadValidationPipe } from './dispatch/payload-validation.pipe.js';
import { Roles } from './dispatch/roles.decorator.js';
import { SubscribeDto, UnsubscribeDto } from './dto/subscribe.dto.js';
import { WsAuthGuard } from './dispatch/ws-auth.guard.js';
import { WsErrorFilter } from './dispatch/ws-error.filter.js';

/** The connection behind a handler's socket; WsAuthGuard (or direct dispatch) has proven it exists. */
function connectionOf(socket: WebSocket): Connection {
  return Connection.of(socket)!;
}

/**
 * The WebSocket edge of the daemon protocol: one decorated handler per message type, each handing
 * it to the domain. Sessions (admission to close, by role) live in PeerSessions, a multiplexed
 * connection's watches in MultiplexedWatches, connections and their limits in ConnectionRegistry.
 */
@WebSocketGateway({ path: WS_PATH })
@UseGuards(WsAuthGuard)
@UsePipes(PayloadValidationPipe)
@UseFilters(WsErrorFilter)
export class DaemonGateway implements OnModuleInit, OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  constructor(
    private readonly auth: AuthService,
    private readonly daemons: DaemonService,
    private readonly commands: CommandService,
    private readonly connections: ConnectionRegistry,
    private readonly sessions: PeerSessions,
    private readonly watches: MultiplexedWatches,
    private readonly policy: WatchPolicy,
    private readonly directRoutes: DirectRoutes,
  ) {}

  onModuleInit(): void {
    this.directRoutes.registerHandlers(this);
  }

  afterInit(): void {
    this.connections.start();
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    this.sessions.open(socket, request);
  }

  handleDisconnect(socket: WebSocket, closeCode?: string): void {
    this.sessions.close(socket, closeCode);
  }

  @Handles(ClientMessageType.Ping)
  ping(): Frame {
    return { type: ServerMessageType.Pong };
  }

  /** A fresh token on the live connection (ConnectionRegistry.reauthorize says what is refused and how). */
  @Handles(ClientMessageType.RefreshToken)
  async refreshToken(@ConnectedSocket() socket: WebSocket, @MessageBody() body: RefreshTokenDto): Promise<Frame<ServerMessageType, TokenRefreshedPayload>> {
    const connection = connectionOf(socket);
    const authExpiresAt = await this.connections.reauthorize(connection, () => this.auth.refreshIdentity(connection.identity, body.token));
    return { type: ServerMessageType.TokenRefreshed, payload: { authExpiresAt, timestamp: new Date().toISOString() } };
  }

  @Roles(Role.Client)
  @Handles(ClientMessageType.GetWorkspaceStatus)
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
  @Handles(ClientMessageType.Subscribe)
  subscribe(@ConnectedSocket() socket: WebSocket, @MessageBody() body: SubscribeDto): Promise<void> {
    const connection = connectionOf(socket);
    return this.watches.subscribe(connection, body, connection.currentFrameId);
  }

  @Roles(Role.Client)
  @Handles(ClientMessageType.Unsubscribe)
  unsubscribe(@ConnectedSocket() socket: WebSocket, @MessageBody() body: UnsubscribeDto): Frame<ServerMessageType, UnsubscribedPayload> {
    // Ending it first: nothing of the daemon follows the reply.
    this.watches.unsubscribe(connectionOf(socket), body.daemonId);
    return { type: ServerMessageType.Unsubscribed, payload: { daemonId: body.daemonId } };
  }

  @Roles(Role.Client)
  @Handles(ClientMessageType.RunTask)
  runTask(@ConnectedSocket() socket: WebSocket, @MessageBody() body: RunTaskDto): Promise<Frame<ServerMessageType, AckPayload>> {
    return this.command(socket, ClientMessageType.RunTask, body);
  }

  @Roles(Role.Client)
  @Handles(ClientMessageType.CancelTask)
  cancelTask(@ConnectedSocket() socket: WebSocket, @MessageBody() body: CancelTaskDto): Promise<Frame<ServerMessageType, AckPayload>> {
    return this.command(socket, ClientMessageType.CancelTask, body);
  }

  @Roles(Role.Daemon)
  @Handles(DaemonMessageType.Heartbeat)
  async heartbeat(@ConnectedSocket() socket: WebSocket, @MessageBody() body: HeartbeatDto): Promise<void> {
    const connection = connectionOf(socket);
    await this.daemons.heartbeat(connection.identity.daemonId, connection, body.workspaceIds);
  }

  @Roles(Role.Daemon)
  @Handles(DaemonMessageType.WorkspaceUpdate)
  async workspaceUpdate(@ConnectedSocket() socket: WebSocket, @MessageBody() body: WorkspaceUpdateDto): Promise<void> {
    const connection = connectionOf(socket);
    await this.daemons.updateWorkspace(connection.identity.daemonId, connection, body, connection.inbound());
  }

  // Validated payloads carry exactly the DTO's fields (unknown ones are refused), so they are
  // forwarded as they are.
  @Roles(Role.Daemon)
  @DirectDispatch(DaemonMessageType.FileChange, FileChangeDto)
  fileChange(@ConnectedSocket() socket: WebSocket, @MessageBody() body: FileChangeDto): void {
    const connection = connectionOf(socket);
    this.daemons.relayEvent(connection.identity.daemonId, connection, DaemonMessageType.FileChange, body, connection.inbound());
  }

  @Roles(Role.Daemon)
  @DirectDispatch(DaemonMessageType.TaskStatus, TaskStatusDto)
  taskStatus(@ConnectedSocket() socket: WebSocket, @MessageBody() body: TaskStatusDto): void {
    const connection = connectionOf(socket);
    this.daemons.relayEvent(connection.identity.daemonId, connection, DaemonMessageType.TaskStatus, body, connection.inbound(), connection.currentTraceContext);
  }

  @Roles(Role.Daemon)
  @Handles(DaemonMessageType.CommandAck)
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

  /** The daemon a request is for (the domain's WatchPolicy decides). */
  private targetDaemon(connection: Connection, named: string | undefined): string {
    const { principal, daemonId } = connection.identity;
    return this.policy.targetDaemon(principal, connection.subscriptions ? undefined : daemonId, named);
  }
}
