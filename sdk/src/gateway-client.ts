import { ClientBase } from './client-base.js';
import { GatewayRequestError } from './errors.js';
import {
  ClientMessageType,
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
  private status: DaemonStatus | undefined;
  private heartbeatAt: string | null = null;
  private workspaces: string[] = [];
  private streamPosition: StreamPosition | undefined;
  private lastSnapshot: ClientConnectedPayload | undefined;

  constructor(options: GatewayClientOptions) {
    const { url = DEFAULT_GATEWAY_URL, daemonId, requestTimeout = 10_000, ...rest } = options;
    // Every attempt resumes from the last event processed (`since`), once there is one.
    super({ ...rest, url: withDaemonId(url, daemonId, () => this.streamPosition) });
    this.daemonId = daemonId;
    this.requests = new RequestTracker(this.timers, requestTimeout);
    this.unsubscribers.push(
      this.connection.on('message', (frame) => this.handle(frame)),
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
    const reply = await this.request(ClientMessageType.RunTask, payload);
    return { taskId: payload.taskId, ...(reply.payload as AckPayload) };
  }

  async cancelTask(taskId: string): Promise<AckPayload> {
    return (await this.request(ClientMessageType.CancelTask, { taskId })).payload as AckPayload;
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

  private request(type: ClientMessageType, payload?: object): Promise<Frame> {
    return this.requests.request(type, payload, (frame) => this.connection.send(frame));
  }

  private handle(frame: Frame): void {
    if (this.requests.settle(frame)) return;
    if (!this.advance(frame as Frame & { epoch?: string; seq?: number })) return;
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
        return;
      }
      case ServerMessageType.ResyncRequired:
        this.emit('resync', { reason: (frame.payload as ResyncRequiredPayload).reason, snapshot: this.lastSnapshot });
        return;
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
          this.emit(frame.type as keyof GatewayClientEvents, frame as never);
        }
    }
  }
}

function withDaemonId(url: UrlSource, daemonId: string, position: () => StreamPosition | undefined): () => Promise<string> {
  return async () => {
    const base = new URL(String(typeof url === 'function' ? await url() : url));
    base.searchParams.set('daemonId', daemonId);
    const since = position();
    if (since) base.searchParams.set('since', formatPosition(since));
    return base.toString();
  };
}

export function newTaskId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  return `task-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
