/**
 * The Arbor Gateway wire protocol: message types, close codes, error codes and limits.
 * Defined once here; the gateway and every SDK client import it. docs/protocol.md and
 * docs/asyncapi.yaml describe the same contract for other languages (a test keeps them in step).
 */

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

export enum CloseCode {
  Normal = 1000,
  GoingAway = 1001,
  AbnormalClosure = 1006,
  /** A text frame that is not UTF-8 (the WebSocket layer closes it). */
  InvalidPayload = 1007,
  PolicyViolation = 1008,
  MessageTooBig = 1009,
  InternalError = 1011,
  ServiceRestart = 1012,
  TryAgainLater = 1013,
  /** The client did not read its outbound buffer down in time; it resumes like any reconnect. */
  SlowConsumer = 4008,
  BadRequest = 4400,
  Unauthorized = 4401,
  Forbidden = 4403,
  HeartbeatTimeout = 4408,
  Replaced = 4409,
}

export enum ErrorCode {
  InvalidJson = 'invalid_json',
  BadRequest = 'bad_request',
  UnknownType = 'unknown_type',
  Forbidden = 'forbidden',
  Unauthorized = 'unauthorized',
  ValidationFailed = 'validation_failed',
  NotFound = 'not_found',
  DaemonOffline = 'daemon_offline',
  /** Shared state (Redis) is unreachable; retry shortly. */
  Unavailable = 'unavailable',
  Replaced = 'replaced',
  HeartbeatTimeout = 'heartbeat_timeout',
  SlowConsumer = 'slow_consumer',
  /** Too many frames: `retryAfterMs` says when the next one is accepted. */
  RateLimited = 'rate_limited',
  /** A frame larger than this role may send (close 1009). */
  MessageTooBig = 'message_too_big',
  /** Sustained abuse, e.g. rate limits ignored (close 1008). */
  PolicyViolation = 'policy_violation',
  InternalError = 'internal_error',
}

/** Closes the gateway initiates are preceded by an `error` frame with this code. */
export const CLOSE_ERROR_CODES: Readonly<Partial<Record<CloseCode, ErrorCode>>> = {
  [CloseCode.PolicyViolation]: ErrorCode.PolicyViolation,
  [CloseCode.MessageTooBig]: ErrorCode.MessageTooBig,
  [CloseCode.BadRequest]: ErrorCode.BadRequest,
  [CloseCode.Unauthorized]: ErrorCode.Unauthorized,
  [CloseCode.Forbidden]: ErrorCode.Forbidden,
  [CloseCode.HeartbeatTimeout]: ErrorCode.HeartbeatTimeout,
  [CloseCode.SlowConsumer]: ErrorCode.SlowConsumer,
  [CloseCode.Replaced]: ErrorCode.Replaced,
};

/** What a client should do after the gateway closes the connection with a given code. */
export enum CloseAction {
  /** Reconnect with backoff. */
  Retry = 'retry',
  /** Fetch a fresh token, then reconnect. */
  RefreshTokenAndRetry = 'refresh-token-and-retry',
  /** Do not reconnect: retrying cannot succeed without a change on the caller's side. */
  Stop = 'stop',
}

export const CLOSE_ACTIONS: Readonly<Record<number, CloseAction>> = {
  [CloseCode.Normal]: CloseAction.Stop,
  [CloseCode.GoingAway]: CloseAction.Retry,
  [CloseCode.AbnormalClosure]: CloseAction.Retry,
  [CloseCode.InvalidPayload]: CloseAction.Stop,
  [CloseCode.PolicyViolation]: CloseAction.Stop,
  [CloseCode.MessageTooBig]: CloseAction.Stop,
  [CloseCode.InternalError]: CloseAction.Retry,
  [CloseCode.ServiceRestart]: CloseAction.Retry,
  [CloseCode.TryAgainLater]: CloseAction.Retry,
  [CloseCode.SlowConsumer]: CloseAction.Retry,
  [CloseCode.BadRequest]: CloseAction.Stop,
  [CloseCode.Unauthorized]: CloseAction.RefreshTokenAndRetry,
  [CloseCode.Forbidden]: CloseAction.Stop,
  [CloseCode.HeartbeatTimeout]: CloseAction.Retry,
  [CloseCode.Replaced]: CloseAction.Stop,
};

/** Unknown codes are treated as transient: a client that stops on them would strand users. */
export function closeActionFor(code: number): CloseAction {
  return CLOSE_ACTIONS[code] ?? CloseAction.Retry;
}

/**
 * Close reasons may carry a retry hint, `retry-after-ms=<n>`, which clients honour instead of their
 * own backoff for that one reconnect (e.g. to spread reconnects during a rolling deploy).
 */
const RETRY_HINT_PATTERN = /(?:^|[\s;,])retry-after-ms=(\d{1,7})(?:$|[\s;,])/;

export function formatRetryHint(reason: string, delayMs: number): string {
  return `${reason}; retry-after-ms=${Math.max(0, Math.round(delayMs))}`;
}

export function parseRetryHint(reason: string): number | undefined {
  const match = RETRY_HINT_PATTERN.exec(reason);
  return match ? Number(match[1]) : undefined;
}

/**
 * The secret a gateway started without JWT_SECRET uses outside production. Public by design: only
 * development tools (the token CLI, the daemon simulator) use it to mint tokens for a local gateway.
 */
export const DEVELOPMENT_JWT_SECRET = 'arbor-gateway-development-secret-do-not-use-in-production';

/**
 * Identifiers (daemon, workspace, task, user ids) and status strings must be well-formed Unicode:
 * a lone surrogate (`\ud800` in JSON) has no UTF-8 form, so stores and other instances would see
 * U+FFFD instead and two ids could become one. Such frames get `validation_failed`; file paths and
 * task output are relayed exactly as sent and may hold any JSON string.
 */
export function isWellFormedText(text: string): boolean {
  // With the u flag a paired surrogate is one code point: only lone ones match.
  return !/\p{Surrogate}/u.test(text);
}

export const Limits = {
  /** Daemon ids, workspace ids, task ids, user ids, request ids. */
  MAX_ID_LENGTH: 128,
  MAX_WORKSPACE_STATUS_LENGTH: 64,
  MAX_PATH_LENGTH: 4096,
  MAX_COMMAND_LENGTH: 4096,
  MAX_TASK_ARGS: 256,
  MAX_TASK_ARG_LENGTH: 4096,
  MAX_WORKSPACES_PER_DAEMON: 1024,
  MAX_DAEMONS_PER_TOKEN: 1024,
  /** Largest frame a daemon may send (MAX_PAYLOAD_BYTES) ... */
  DEFAULT_MAX_PAYLOAD_BYTES: 1024 * 1024,
  /** ... and a client (CLIENT_MAX_PAYLOAD_BYTES). */
  DEFAULT_CLIENT_MAX_PAYLOAD_BYTES: 64 * 1024,
  /** Objects and arrays nested deeper than this in one frame are refused. */
  MAX_JSON_DEPTH: 16,
  /** Arrays longer than this anywhere in a frame are refused. */
  MAX_JSON_ARRAY_LENGTH: 1024,
  /** Keys of one object in a frame. */
  MAX_JSON_OBJECT_KEYS: 64,
  MAX_TOKEN_LENGTH: 8192,
  /** How long an accepted command waits for its daemon's confirmation (COMMAND_TTL_MS). */
  DEFAULT_COMMAND_TTL_MS: 60_000,
  DEFAULT_TOKEN_MAX_TTL_SECONDS: 300,
  DEFAULT_REPLAY_MAX_EVENTS: 1000,
  DEFAULT_REPLAY_TTL_MS: 5 * 60 * 1000,
  MAX_CLOCK_TOLERANCE_SECONDS: 30,
  /** Daemons one multiplexed connection may watch at once, by default (MAX_SUBSCRIPTIONS_PER_CONNECTION). */
  DEFAULT_MAX_SUBSCRIPTIONS: 100,
  /** The window a subscription may ask `file-change` events of one path to be merged over (`coalesceMs`). */
  MIN_COALESCE_MS: 10,
  MAX_COALESCE_MS: 1000,
} as const;

export const FILE_CHANGE_EVENTS = ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const;
export type FileChangeEvent = (typeof FILE_CHANGE_EVENTS)[number];

export const TASK_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export enum DaemonStatus {
  Online = 'online',
  Stale = 'stale',
  Offline = 'offline',
}

/** Workspace status before the daemon has reported one. */
export const UNKNOWN_WORKSPACE_STATUS = 'unknown';

export interface Frame<T extends string = string, P = unknown> {
  type: T;
  payload?: P;
  id?: string;
  /** W3C Trace Context of a command, request or task status (never inside the payload). */
  tc?: TraceContext;
}

/**
 * W3C Trace Context carried in a frame's envelope: on client commands and requests (forwarded to
 * the daemon), and on a daemon's `task-status` (the context of the command it answers; forwarded to
 * clients). Malformed, it is refused with `bad_request` (field `tc`).
 */
export interface TraceContext {
  /** `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`. */
  traceparent: string;
  tracestate?: string;
}

export const TRACEPARENT_PATTERN = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
/** W3C allows 32 list members of up to 256 characters; 512 characters is what the gateway carries. */
export const MAX_TRACESTATE_LENGTH = 512;

/** The trace context of a frame's `tc` if it is well-formed, else a reason. */
export function checkTraceContext(value: unknown): { tc: TraceContext } | { problem: string; field: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: 'tc must be an object {traceparent, tracestate?}', field: 'tc' };
  const { traceparent, tracestate, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) return { problem: `unknown tc field "${extra}"`, field: `tc.${extra}` };
  if (typeof traceparent !== 'string' || !TRACEPARENT_PATTERN.test(traceparent)) {
    return { problem: 'tc.traceparent must be a W3C traceparent (00-<trace id>-<parent id>-<flags>)', field: 'tc.traceparent' };
  }
  if (tracestate !== undefined && (typeof tracestate !== 'string' || tracestate.length > MAX_TRACESTATE_LENGTH || !/^[\x20-\x7e]*$/.test(tracestate))) {
    return { problem: `tc.tracestate must be printable ASCII of at most ${MAX_TRACESTATE_LENGTH} characters`, field: 'tc.tracestate' };
  }
  return { tc: tracestate === undefined ? { traceparent } : { traceparent, tracestate } };
}

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

// ---- webhooks (HTTP, gateway → the app's backend) ----------------------------------------------

/** The daemon transitions a webhook reports; WEBHOOK_EVENTS filters by these names. */
export enum WebhookEventType {
  Online = 'daemon.online',
  Stale = 'daemon.stale',
  Offline = 'daemon.offline',
  Replaced = 'daemon.replaced',
}

/** The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. */
export const WEBHOOK_SIGNATURE_HEADER = 'Arbor-Signature';

/** Receivers reject a signature older than this (seconds): a replayed request is refused. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * One webhook POST body. A daemon's transitions are ordered by (`epoch`, `transition`): sort by
 * `epoch`, then `transition`, and drop one older than the last applied; `id` is the same on every
 * retry of one event.
 */
export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  daemonId: string;
  status: DaemonStatus;
  /** When the transition happened (ISO-8601). */
  at: string;
  /** When this daemon's transition counter started (ms since the epoch); a new counter has a larger one. */
  epoch: number;
  /** This daemon's transition number within `epoch`, from 1, without gaps (but those WEBHOOK_EVENTS filters out). */
  transition: number;
}
