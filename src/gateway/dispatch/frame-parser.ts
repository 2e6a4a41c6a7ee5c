import { checkTraceContext, ErrorCode, Limits, type TraceContext } from '@arbor/gateway-client/protocol';
import { DomainError } from '../../errors/domain.error.js';
import { structureProblem } from '../../validation/json-structure.js';

export interface InboundFrame {
  type: string;
  payload: Record<string, unknown>;
  id?: string;
  /** A daemon's own number for the event (with a `session`): the gateway drops repeats. */
  seq?: number;
  /** W3C Trace Context from the envelope. */
  tc?: TraceContext;
}

const MAX_TYPE_LENGTH = 64;

/** A frame refused before dispatch; `frameId` is kept so even envelope errors carry the request id. */
export class FrameRejection {
  constructor(
    readonly error: DomainError,
    readonly frameId?: string,
  ) {}
}

/**
 * Parses one text frame into `{type, payload, id}`, or a rejection with the documented code.
 * A missing payload becomes `{}` so payload validation names the missing field.
 */
export function parseFrame(text: string): InboundFrame | FrameRejection {
  const reject = (code: ErrorCode, message: string, field?: string, frameId?: string) => new FrameRejection(new DomainError(code, message, field), frameId);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return reject(ErrorCode.InvalidJson, 'frame is not valid JSON');
  }
  if (!isPlainObject(value)) return reject(ErrorCode.BadRequest, 'frame must be a JSON object');
  const { type, payload, id, seq, tc } = value;
  if (id !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > Limits.MAX_ID_LENGTH)) {
    return reject(ErrorCode.BadRequest, `id must be a string of 1-${Limits.MAX_ID_LENGTH} characters`, 'id');
  }
  const frameId = id;
  if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) {
    return reject(ErrorCode.BadRequest, 'frame must carry a string "type"', 'type', frameId);
  }
  if (seq !== undefined && !(Number.isSafeInteger(seq) && (seq as number) > 0)) {
    return reject(ErrorCode.BadRequest, 'seq must be a positive integer', 'seq', frameId);
  }
  if (payload !== undefined && !isPlainObject(payload)) {
    return reject(ErrorCode.BadRequest, 'payload must be a JSON object', 'payload', frameId);
  }
  const problem = payload === undefined ? undefined : structureProblem(payload, 1);
  if (problem) return reject(ErrorCode.BadRequest, problem.message, problem.field, frameId);
  for (const key of Object.keys(value)) {
    if (key !== 'type' && key !== 'payload' && key !== 'id' && key !== 'seq' && key !== 'tc') {
      return reject(ErrorCode.BadRequest, `unknown envelope field "${key}"`, key, frameId);
    }
  }
  if (tc === undefined) return { type, payload: payload ?? {}, id: frameId, seq: seq as number | undefined };
  const trace = checkTraceContext(tc);
  if ('problem' in trace) return reject(ErrorCode.BadRequest, trace.problem, trace.field, frameId);
  return { type, payload: payload ?? {}, id: frameId, seq: seq as number | undefined, tc: trace.tc };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
