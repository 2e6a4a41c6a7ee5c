import { ClientBase } from './client-base.js';
import { GatewayRequestError } from './errors.js';
import { DEFAULT_GATEWAY_URL } from './gateway-client.js';
import {
  ClientMessageType,
  DaemonMessageType,
  ServerMessageType,
  type DaemonConnectedPayload,
  type ErrorPayload,
  type FileChangeEvent,
  type ForwardedCancelTaskPayload,
  type ForwardedRunTaskPayload,
  type Frame,
  type TaskStatus,
} from './protocol.js';
import { ConnectionState, type ReconnectingWebSocketOptions, type UrlSource } from './reconnecting-websocket.js';
import type { TimerHandle } from './timers.js';

export interface DaemonClientOptions extends Omit<ReconnectingWebSocketOptions, 'url'> {
  /** The gateway's WebSocket URL. Default ws://localhost:3001/ws. */
  url?: UrlSource;
  /** The workspaces this daemon serves, sent with every heartbeat. */
  workspaceIds?: string[];
  /** How often the `heartbeat` frame goes out. Default 10 000 ms (the gateway marks a daemon stale after 30 s). */
  daemonHeartbeatInterval?: number;
}

export interface DaemonClientEvents {
  'run-task': ForwardedRunTaskPayload;
  'cancel-task': ForwardedCancelTaskPayload;
  connected: DaemonConnectedPayload;
  state: ConnectionState;
  /** An `error` frame from the gateway (e.g. validation_failed), or a connection error. */
  error: Error;
}

/** A typed client for daemon authors (Node): heartbeats, event helpers, commands as events. */
export class DaemonClient extends ClientBase<DaemonClientEvents> {
  private readonly heartbeatIntervalMs: number;
  private heartbeatTimer: TimerHandle | undefined;
  private workspaces: string[];

  constructor(options: DaemonClientOptions) {
    const { url = DEFAULT_GATEWAY_URL, workspaceIds = [], daemonHeartbeatInterval = 10_000, ...rest } = options;
    super({ ...rest, url });
    this.workspaces = [...workspaceIds];
    this.heartbeatIntervalMs = daemonHeartbeatInterval;
    this.unsubscribers.push(
      this.connection.on('open', () => this.sendHeartbeat()),
      this.connection.on('message', (frame) => this.handle(frame)),
      this.connection.on('statechange', ({ current }) => {
        if (current !== ConnectionState.Open) this.timers.cancel(this.heartbeatTimer);
      }),
    );
    this.start();
  }

  get workspaceIds(): readonly string[] {
    return this.workspaces;
  }

  /** Replaces the workspace list and announces it with a heartbeat right away. */
  setWorkspaces(workspaceIds: string[]): void {
    this.workspaces = [...workspaceIds];
    this.sendHeartbeat();
  }

  /** Each helper returns whether the frame went out now; otherwise it is queued until reconnected. */
  workspaceUpdate(workspaceId: string, status: string): boolean {
    return this.connection.send({ type: DaemonMessageType.WorkspaceUpdate, payload: { workspaceId, status } });
  }

  fileChange(workspaceId: string, path: string, event: FileChangeEvent): boolean {
    return this.connection.send({ type: DaemonMessageType.FileChange, payload: { workspaceId, path, event } });
  }

  taskStatus(taskId: string, status: TaskStatus, details: { output?: string; error?: string } = {}): boolean {
    return this.connection.send({ type: DaemonMessageType.TaskStatus, payload: { taskId, status, ...details } });
  }

  private sendHeartbeat(): void {
    this.timers.cancel(this.heartbeatTimer);
    // Volatile: a heartbeat is only meaningful now; a stale one must not be replayed later.
    this.connection.send({ type: DaemonMessageType.Heartbeat, payload: { workspaceIds: this.workspaces } }, { volatile: true });
    if (this.connection.state === ConnectionState.Open) {
      this.heartbeatTimer = this.timers.after(this.heartbeatIntervalMs, () => this.sendHeartbeat());
    }
  }

  private handle(frame: Frame): void {
    switch (frame.type) {
      case ServerMessageType.Connected:
        this.emit('connected', frame.payload as DaemonConnectedPayload);
        return;
      case ClientMessageType.RunTask:
        this.emit('run-task', frame.payload as ForwardedRunTaskPayload);
        return;
      case ClientMessageType.CancelTask:
        this.emit('cancel-task', frame.payload as ForwardedCancelTaskPayload);
        return;
      case ServerMessageType.Error:
        this.emit('error', new GatewayRequestError(frame.payload as ErrorPayload));
        return;
    }
  }
}
