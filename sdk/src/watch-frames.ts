import { GatewayRequestError } from './errors.js';
import {
  AckStatus,
  ErrorCode,
  formatPosition,
  type AckPayload,
  type ErrorPayload,
  type Frame,
  type RunTaskPayload,
  type StreamPosition,
  type SubscribePayload,
} from './protocol.js';
import { randomId } from './random-id.js';
import type { RunTaskRequest, WatchEndReason } from './daemon-watch.js';

/**
 * What every holder of a multiplexed connection (a GatewayClient, the cross-tab relay) writes and
 * reads alike: subscriptions, their refusals, which daemon a frame is of, and the commands.
 */

/** A subscription refused for a passing reason (Redis away, rate limit) is asked for again after this. */
const RESUBSCRIBE_RETRY_MS = 1000;
/** Refusals worth asking again: the reason passes. */
const PASSING_REFUSALS: readonly string[] = [ErrorCode.Unavailable, ErrorCode.RateLimited, ErrorCode.InternalError];

/** `subscribe` from a position (none: a fresh snapshot), with the coalescing window when asked for. */
export function subscribePayload(daemonId: string, position: StreamPosition | undefined, coalesceMs?: number): SubscribePayload {
  const payload: SubscribePayload = { daemonId };
  if (position) payload.since = formatPosition(position);
  if (coalesceMs !== undefined) payload.coalesceMs = coalesceMs;
  return payload;
}

/** The daemon a frame is of: in the envelope for events, in the payload for `daemon-status` and replies. */
export function daemonOf(frame: Frame): string | undefined {
  return (frame as { daemonId?: string }).daemonId ?? (frame.payload as { daemonId?: string } | undefined)?.daemonId;
}

/** When to ask again for a subscription the gateway refused for a passing reason; undefined for a refusal that stands. */
export function retryDelayOf(refusal: Frame): number | undefined {
  const error = refusal.payload as ErrorPayload & { retryAfterMs?: number };
  return PASSING_REFUSALS.includes(error.code) ? (error.retryAfterMs ?? RESUBSCRIBE_RETRY_MS) : undefined;
}

/** Why a refusal (an `error` answer, or an `unsubscribed` with a reason) ends a watch. */
export function endReasonOf(code: string | undefined): WatchEndReason {
  return code === ErrorCode.Forbidden ? 'forbidden' : 'refused';
}

/** The `run-task` payload of a request (a generated task id unless given), naming its daemon when there is one to name. */
export function runTaskPayload(daemonId: string | undefined, request: RunTaskRequest): RunTaskPayload {
  return withDaemon(daemonId, {
    taskId: request.taskId ?? newTaskId(),
    workspaceId: request.workspaceId,
    command: request.command,
    ...(request.args ? { args: request.args } : {}),
  });
}

/** The payload, naming its daemon when there is one to name. */
export function withDaemon<T extends object>(daemonId: string | undefined, payload: T): T {
  return daemonId === undefined ? payload : { ...payload, daemonId };
}

/** A command's ack, or the `daemon_offline` error it stands for. */
export function acknowledged(ack: AckPayload): AckPayload {
  if (ack.status === AckStatus.DaemonOffline) throw new GatewayRequestError({ code: ErrorCode.DaemonOffline, message: 'daemon is not connected' });
  return ack;
}

export function newTaskId(): string {
  return randomId();
}
