/** The protocol's version, where it is served, the roles and every frame type. */

export const PROTOCOL_VERSION = 1;
export const WS_PATH = '/ws';
export const DEFAULT_PORT = 3001;
export const DEFAULT_AUDIENCE = 'arbor-gateway';

export enum Role {
  Client = 'client',
  Daemon = 'daemon',
}

/** Frames a browser/app client may send. */
export enum ClientMessageType {
  Ping = 'ping',
  GetWorkspaceStatus = 'get-workspace-status',
  RunTask = 'run-task',
  CancelTask = 'cancel-task',
  /** A fresh token for the live connection, before the current one expires. */
  RefreshToken = 'refresh-token',
  /** On a connection opened without `daemonId`: start watching a daemon (answered `subscribed`). */
  Subscribe = 'subscribe',
  /** Stop watching a daemon (answered `unsubscribed`). */
  Unsubscribe = 'unsubscribe',
}

/** Frames a daemon may send. */
export enum DaemonMessageType {
  Ping = 'ping',
  Heartbeat = 'heartbeat',
  WorkspaceUpdate = 'workspace-update',
  FileChange = 'file-change',
  TaskStatus = 'task-status',
  RefreshToken = 'refresh-token',
  /** The daemon has taken the command with this `id`: the gateway stops sending it again. */
  CommandAck = 'command-ack',
}

/** Frames the gateway sends. Daemon events are forwarded to clients under their own type. */
export enum ServerMessageType {
  Pong = 'pong',
  Connected = 'connected',
  DaemonStatus = 'daemon-status',
  WorkspaceStatus = 'workspace-status',
  /** A resuming client's position is no longer in the history: rebuild from the snapshot. */
  ResyncRequired = 'resync-required',
  /** Reply to a command that carried an `id`: `accepted` means recorded for delivery (see `command-status`). */
  Ack = 'ack',
  /** Later, for an accepted command (`id` is the command's): the daemon confirmed it, or it expired unconfirmed. */
  CommandStatus = 'command-status',
  /** Reply to `refresh-token`: the connection's authorization now runs to `authExpiresAt`. */
  TokenRefreshed = 'token-refreshed',
  /** Reply to `subscribe`: the daemon's snapshot; its missed events or `resync-required` follow. */
  Subscribed = 'subscribed',
  /** Reply to `unsubscribe`, or a subscription the gateway ended (`reason`). */
  Unsubscribed = 'unsubscribed',
  Error = 'error',
}

/** Daemon frames that are forwarded to the clients watching that daemon. */
export const DAEMON_EVENT_TYPES = [DaemonMessageType.WorkspaceUpdate, DaemonMessageType.FileChange, DaemonMessageType.TaskStatus] as const;
export type DaemonEventType = (typeof DAEMON_EVENT_TYPES)[number];

/** Client frames that are forwarded to the daemon. */
export const COMMAND_TYPES = [ClientMessageType.RunTask, ClientMessageType.CancelTask] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];
