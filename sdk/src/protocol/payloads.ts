/** Every frame's payload, by direction. */

import type { ErrorCode } from './closes.js';
import type { DaemonStatus, FileChangeEvent, TaskStatus, TraceContext } from './frames.js';
import type { DaemonEventType } from './messages.js';

// ---- payloads: client → gateway -------------------------------------------------------------

export interface GetWorkspaceStatusPayload {
  workspaceId: string;
  /** On a connection opened without `daemonId` (multiplexed): the daemon it is about. */
  daemonId?: string;
}

export interface RunTaskPayload {
  taskId: string;
  workspaceId: string;
  command: string;
  args?: string[];
  /** On a multiplexed connection: the daemon it is for (not forwarded). */
  daemonId?: string;
}

export interface CancelTaskPayload {
  taskId: string;
  /** On a multiplexed connection: the daemon it is for (not forwarded). */
  daemonId?: string;
}

// ---- payloads: daemon → gateway -------------------------------------------------------------

export interface HeartbeatPayload {
  workspaceIds: string[];
}

export interface WorkspaceUpdatePayload {
  workspaceId: string;
  status: string;
}

export interface FileChangePayload {
  workspaceId: string;
  path: string;
  event: FileChangeEvent;
}

export interface TaskStatusPayload {
  taskId: string;
  status: TaskStatus;
  output?: string;
  error?: string;
}

// ---- payloads: gateway → client / daemon ----------------------------------------------------

/** A point in a daemon's event stream: `seq` is the last event it covers (0: none yet). */
export interface StreamPosition {
  epoch: string;
  seq: number;
}

/** The `since` connect parameter: `{epoch}:{seq}` of the last event the client processed. */
export function formatPosition(position: StreamPosition): string {
  return `${position.epoch}:${position.seq}`;
}

export function parsePosition(value: string): StreamPosition | undefined {
  const match = /^([A-Za-z0-9_-]{1,64}):(\d{1,15})$/.exec(value);
  return match ? { epoch: match[1], seq: Number(match[2]) } : undefined;
}

export interface ClientConnectedPayload {
  daemonId: string;
  workspaceIds: string[];
  /** Last known status of each workspace (`unknown` until reported). */
  workspaceStatuses: Record<string, string>;
  daemonStatus: DaemonStatus;
  /** The stream position this snapshot reflects; events after it follow. */
  stream: StreamPosition;
  /** True when the `since` position was resumed: the missed events follow, in order. */
  recovered: boolean;
  /** When this connection's authorization ends (ISO-8601): send `refresh-token` before then. */
  authExpiresAt: string;
  timestamp: string;
}

/** `connected` on a connection opened without `daemonId`: it watches nothing until it subscribes. */
export interface MultiplexConnectedPayload {
  multiplexed: true;
  authExpiresAt: string;
  timestamp: string;
}

export interface SubscribePayload {
  daemonId: string;
  /** `{epoch}:{seq}` of the last event processed for this daemon, to resume from. */
  since?: string;
  /**
   * Opt-in (10–1000 ms): `file-change` events of one `(workspaceId, path)` within this window are
   * merged into the last of them (`merged` counts them). Every live event of the subscription then
   * carries `prev`, the `seq` of the event delivered before it, so positions stay exact.
   */
  coalesceMs?: number;
}

/** The same snapshot `connected` carries on a single-daemon connection, without `authExpiresAt`. */
export type SubscribedPayload = Omit<ClientConnectedPayload, 'authExpiresAt'>;

export interface UnsubscribePayload {
  daemonId: string;
}

export interface UnsubscribedPayload {
  daemonId: string;
  /** Set when the gateway ended it: `forbidden` (revoked, or a refreshed token no longer allows it). */
  reason?: 'forbidden';
}

/**
 * After `connected`: the `since` position cannot be resumed. On a live connection: the stream lost
 * history under the client; events continue after `stream`, and the client rebuilds from a fresh
 * snapshot.
 */
export interface ResyncRequiredPayload {
  /**
   * Why events were lost: the stream's epoch changed, or they left (or never reached) the history —
   * including events delivered while Redis was unreachable that could not be recorded under their seq.
   */
  reason: 'epoch_changed' | 'history_expired';
  stream: StreamPosition;
}

export interface DaemonConnectedPayload {
  workspaceIds: string[];
  /**
   * The last event `seq` the gateway accepted from this daemon session (`session` connect
   * parameter); 0 for a new session. Send again everything after it.
   */
  lastSeq: number;
  /** When this connection's authorization ends (ISO-8601): send `refresh-token` before then. */
  authExpiresAt: string;
  timestamp: string;
}

/** Gateway → daemon: every event up to `seq` is recorded; the daemon may forget them. */
export interface DaemonAckPayload {
  seq: number;
}

/** A daemon session id: names one numbering of a daemon's outgoing events (`session` connect parameter). */
export const SESSION_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface DaemonStatusPayload {
  daemonId: string;
  status: DaemonStatus;
  /** ISO-8601 time of the last heartbeat, or null when none was ever received. */
  lastHeartbeat: string | null;
}

export interface WorkspaceStatusPayload {
  workspaceId: string;
  status: string;
  /** On a multiplexed connection: the daemon asked about. */
  daemonId?: string;
}

export enum AckStatus {
  /** Recorded for delivery (in Redis when configured): sent to the daemon now and after every reconnect until it confirms or COMMAND_TTL_MS passes. */
  Accepted = 'accepted',
  /** This command id was seen before: not recorded again; `outcome` is its state now. */
  Duplicate = 'duplicate',
  /** The daemon was not connected: not recorded; the same id may be sent again later. */
  DaemonOffline = 'daemon_offline',
}

/** What became of an accepted command; the sender gets one `command-status` with it. */
export enum CommandStatus {
  /** The daemon confirmed it (`command-ack`): it is never sent again. */
  Delivered = 'delivered',
  /** COMMAND_TTL_MS passed without a confirmation: the daemon may have seen it, it never confirmed. */
  Expired = 'expired',
}

export interface AckPayload {
  status: AckStatus;
  /** For `duplicate`: the command's state now — still `accepted` (waiting for the daemon), `delivered` or `expired`. */
  outcome?: AckStatus.Accepted | CommandStatus;
}

/** `command-status` (its envelope `id` is the command's id). */
export interface CommandStatusPayload {
  status: CommandStatus;
  /** The daemon the command was for. */
  daemonId: string;
}

/** Daemon → gateway: the command with this id is taken. */
export interface CommandAckPayload {
  id: string;
}

export interface ErrorPayload {
  code: ErrorCode;
  message: string;
  /** The offending field, for validation_failed. */
  field?: string;
  /** For rate_limited: when the next frame will be accepted. */
  retryAfterMs?: number;
}

export interface RefreshTokenPayload {
  token: string;
}

export interface TokenRefreshedPayload {
  /** The connection's new end of authorization (ISO-8601). */
  authExpiresAt: string;
  /** The gateway's clock when it answered: remaining time is `authExpiresAt - timestamp`. */
  timestamp: string;
}

/** Commands as the daemon receives them: the gateway adds the requesting user. */
export type ForwardedRunTaskPayload = RunTaskPayload & { userId: string };
export type ForwardedCancelTaskPayload = CancelTaskPayload & { userId: string };

/** A daemon event as clients receive it: `daemonId`, `epoch` and `seq` sit in the envelope beside `type`. */
export interface DaemonEventFrame<T extends DaemonEventType = DaemonEventType> {
  type: T;
  daemonId: string;
  epoch: string;
  seq: number;
  payload: DaemonEventPayloads[T];
  /** On a `task-status`: the trace context the daemon echoed (the command's), as the gateway relays it. */
  tc?: TraceContext;
  /** On a coalescing subscription: the `seq` of the event delivered before this one (merged-away events between). */
  prev?: number;
  /** On a coalescing subscription's `file-change`: how many events of its path this one stands for (≥ 2). */
  merged?: number;
}

export interface DaemonEventPayloads {
  'workspace-update': WorkspaceUpdatePayload;
  'file-change': FileChangePayload;
  'task-status': TaskStatusPayload;
}
