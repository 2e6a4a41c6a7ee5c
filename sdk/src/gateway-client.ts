import { ClientBase } from './client-base.js';
import { withQuery } from './connect-url.js';
import { randomId } from './random-id.js';
import { GatewayRequestError } from './errors.js';
import {
  AckStatus,
  ClientMessageType,
  COMMAND_TYPES,
  ErrorCode,
  DAEMON_EVENT_TYPES,
  DaemonMessageType,
  DEFAULT_PORT,
  formatPosition,
  ServerMessageType,
  WS_PATH,
  type AckPayload,
  type ClientConnectedPayload,
  type DaemonEventFrame,
  type DaemonStatus,
  type DaemonStatusPayload,
  type ErrorPayload,
  type Frame,
  type ResyncRequiredPayload,
  type RunTaskPayload,
  type StreamPosition,
  type WorkspaceStatusPayload,
  type TraceContext,
} from './protocol.js';
import type { ConnectionState, ReconnectingWebSocketOptions, UrlSource } from './reconnecting-websocket.js';
import { RequestTracker } from './requests.js';

export const DEFAULT_GATEWAY_URL = `ws://localhost:${DEFAULT_PORT}${WS_PATH}`;

export interface GatewayClientOptions extends Omit<ReconnectingWebSocketOptions, 'url'> {
  /** The gateway's WebSocket URL (string or function); `daemonId` is added. Default ws://localhost:3001/ws. */
  url?: UrlSource;
  /** The daemon to watch; the token's `daemons` claim must include it. */
  daemonId: string;
  /** How long requests wait for their reply. Default 10 000 ms. */
  requestTimeout?: number;
  /**
   * Returns the trace context to put on each command and request (the app's active OpenTelemetry
   * span, say: `propagation.inject(context.active(), carrier)`), or undefined. The SDK itself
   * depends on no tracing library.
   */
  traceContext?: () => TraceContext | undefined;
}

export interface GatewayClientEvents {
  'file-change': DaemonEventFrame<DaemonMessageType.FileChange>;
  'task-status': DaemonEventFrame<DaemonMessageType.TaskStatus>;
  'workspace-update': DaemonEventFrame<DaemonMessageType.WorkspaceUpdate>;
  'daemon-status': DaemonStatusPayload;
  /** The gateway admitted (or re-admitted) this client; `recovered` says whether it resumed. */
  connected: ClientConnectedPayload;
  /**
   * Resuming failed (the position left the history, or the stream's epoch changed): rebuild
   * from `snapshot`; events from here on continue from its position.
   */
  resync: { reason: string; snapshot: ClientConnectedPayload | undefined };
  /** The link's state changed. */
  state: ConnectionState;
  /** Every frame, for anything the typed events do not cover. */
  message: Frame;
  /** An `error` frame that answered no request, or a connection error. */
  error: Error;
}

export interface RunTaskRequest {
  workspaceId: string;
  command: string;
  args?: string[];
  /** Generated when omitted. */
  taskId?: string;
}

/** A typed client for apps: one daemon, seen through the gateway. */
export class GatewayClient extends ClientBase<GatewayClientEvents> {
  readonly daemonId: string;
  private readonly requests: RequestTracker;
  private readonly traceContext: (() => TraceContext | undefined) | undefined;
  private status: DaemonStatus | undefined;
  private heartbeatAt: string | null = null;
  private workspaces: string[] = [];
  private streamPosition: StreamPosition | undefined;
  /** Command request id → the connection (count of opens) it last went out on. */
  private readonly commandsSentOn = new Map<string, number>();
  private opens = 0;
  private lastSnapshot: ClientConnectedPayload | undefined;
  /** The last frame handled was `connected`: a `resync-required` now answers the resume. */
  private justConnected = false;
  /** A live `resync-required` asked for a fresh snapshot; `resync` is emitted with it. */
  private resyncOnConnect: string | undefined;

  constructor(options: GatewayClientOptions) {
    const { url = DEFAULT_GATEWAY_URL, daemonId, requestTimeout = 10_000, traceContext, ...rest } = options;
    // Every attempt resumes from the last event processed (`since`), once there is one.
    super({
      ...rest,
      url: withQuery(url, () => ({ daemonId, since: this.streamPosition && formatPosition(this.streamPosition) })),
    });
    this.daemonId = daemonId;
    this.traceContext = traceContext;
    this.requests = new RequestTracker(this.timers, requestTimeout);
    this.unsubscribers.push(
      this.connection.on('message', (frame) => this.handle(frame)),
      // A command sent just before a drop may or may not have arrived: send it again with the
      // same id; the gateway forwards each id once and answers the retry with the original outcome.
      this.connection.on('open', () => this.resendCommands()),
      this.connection.on('close', ({ willRetry }) => {
        if (!willRetry) this.requests.rejectAll();
      }),
    );
    this.start();
  }

  /** The daemon's status as last reported by the gateway; undefined before the first `connected`. */
  get daemonStatus(): DaemonStatus | undefined {
    return this.status;
  }

  get lastHeartbeat(): string | null {
    return this.heartbeatAt;
  }

  get workspaceIds(): readonly string[] {
    return this.workspaces;
  }

  /** The last event processed: where the next connection resumes. */
  get position(): StreamPosition | undefined {
    return this.streamPosition;
  }

  /** Whether the latest (re)connection resumed without loss. */
  get recovered(): boolean {
    return this.lastSnapshot?.recovered ?? false;
  }

  async getWorkspaceStatus(workspaceId: string): Promise<WorkspaceStatusPayload> {
    const reply = await this.request(ClientMessageType.GetWorkspaceStatus, { workspaceId });
    return reply.payload as WorkspaceStatusPayload;
  }

  /** Starts a task on the daemon; resolves once the gateway handed it over. */
  async runTask(request: RunTaskRequest): Promise<{ taskId: string } & AckPayload> {
    const payload: RunTaskPayload = {
      taskId: request.taskId ?? newTaskId(),
      workspaceId: request.workspaceId,
      command: request.command,
      ...(request.args ? { args: request.args } : {}),
    };
    return { taskId: payload.taskId, ...(await this.command(ClientMessageType.RunTask, payload)) };
  }

  /** Resolves with `accepted` (or `duplicate` for a retried id); rejects with daemon_offline. */
  async cancelTask(taskId: string): Promise<AckPayload> {
    return this.command(ClientMessageType.CancelTask, { taskId });
  }

  private async command(type: ClientMessageType, payload: object): Promise<AckPayload> {
    const ack = (
      await this.requests.request(type, payload, this.traceContext?.(), (frame) => {
        // Queued frames go out with the next open; sent ones may need sending again after it.
        this.commandsSentOn.set(frame.id!, this.connection.send(frame) ? this.opens : this.opens + 1);
      })
    ).payload as AckPayload;
    if (ack.status === AckStatus.DaemonOffline) throw new GatewayRequestError({ code: ErrorCode.DaemonOffline, message: 'daemon is not connected' });
    return ack;
  }

  /** Sends a raw frame; returns whether it went out now (otherwise it is queued). */
  send(frame: Frame): boolean {
    return this.connection.send(frame);
  }

  protected override releaseResources(): void {
    this.requests.rejectAll();
  }

  /**
   * Moves the position along the daemon's stream. Returns false for a frame already processed
   * (a duplicate); on an impossible gap, reconnects to resume from the last good position.
   */
  private advance(frame: Frame & { epoch?: string; seq?: number }): boolean {
    if (frame.seq === undefined || frame.epoch === undefined) return true;
    const position = this.streamPosition;
    if (position && frame.epoch === position.epoch) {
      if (frame.seq <= position.seq) return false;
      if (frame.seq > position.seq + 1) {
        this.connection.reconnect();
        return false;
      }
    } else if (position) {
      this.emit('resync', { reason: 'epoch_changed', snapshot: this.lastSnapshot });
    }
    this.streamPosition = { epoch: frame.epoch, seq: frame.seq };
    return true;
  }

  /** After a reconnect: send again every command still unanswered that went out on an earlier connection. */
  private resendCommands(): void {
    this.opens += 1;
    const unanswered = new Map(this.requests.unanswered(COMMAND_TYPES).map((frame) => [frame.id!, frame]));
    for (const id of this.commandsSentOn.keys()) if (!unanswered.has(id)) this.commandsSentOn.delete(id);
    for (const [id, frame] of unanswered) {
      if ((this.commandsSentOn.get(id) ?? 0) >= this.opens) continue;
      this.commandsSentOn.set(id, this.opens);
      this.connection.send(frame);
    }
  }

  private request(type: ClientMessageType, payload?: object): Promise<Frame> {
    return this.requests.request(type, payload, this.traceContext?.(), (frame) => this.connection.send(frame));
  }

  private handle(frame: Frame): void {
    if (this.requests.settle(frame)) return;
    const afterConnected = this.justConnected;
    this.justConnected = frame.type === ServerMessageType.Connected;
    if (!this.advance(frame)) return;
    this.emit('message', frame);
    switch (frame.type) {
      case ServerMessageType.Connected: {
        const payload = frame.payload as ClientConnectedPayload;
        this.status = payload.daemonStatus;
        this.workspaces = payload.workspaceIds;
        // Resumed: the missed events follow, so the position stays until they arrive.
        if (!payload.recovered || !this.streamPosition) this.streamPosition = payload.stream;
        this.lastSnapshot = payload;
        this.emit('connected', payload);
        const reason = this.resyncOnConnect;
        this.resyncOnConnect = undefined;
        if (reason !== undefined) this.emit('resync', { reason, snapshot: payload });
        return;
      }
      case ServerMessageType.ResyncRequired: {
        const { reason } = frame.payload as ResyncRequiredPayload;
        if (afterConnected) return this.emit('resync', { reason, snapshot: this.lastSnapshot });
        // On a live connection (the stream lost history): start over from a fresh snapshot.
        this.streamPosition = undefined;
        this.resyncOnConnect = reason;
        this.connection.reconnect();
        return;
      }
      case ServerMessageType.DaemonStatus: {
        const payload = frame.payload as DaemonStatusPayload;
        this.status = payload.status;
        this.heartbeatAt = payload.lastHeartbeat;
        this.emit('daemon-status', payload);
        return;
      }
      case ServerMessageType.Error:
        this.emit('error', new GatewayRequestError(frame.payload as ErrorPayload));
        return;
      default:
        if ((DAEMON_EVENT_TYPES as readonly string[]).includes(frame.type)) {
          this.emit(frame.type as keyof GatewayClientEvents, frame);
        }
    }
  }
}

export function newTaskId(): string {
  return randomId();
}
