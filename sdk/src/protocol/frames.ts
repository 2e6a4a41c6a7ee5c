/** The frame envelope, its trace context, and the values its payloads draw from. */

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
