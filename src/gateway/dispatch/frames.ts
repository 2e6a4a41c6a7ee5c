import { ErrorCode, ServerMessageType, type ErrorPayload, type Frame } from '@arbor/gateway-client/protocol';

export function errorFrame(payload: ErrorPayload, id?: string): Frame<ServerMessageType.Error, ErrorPayload> {
  return id === undefined ? { type: ServerMessageType.Error, payload } : { type: ServerMessageType.Error, payload, id };
}

export function errorFrameOf(code: ErrorCode, message: string, id?: string) {
  return errorFrame({ code, message }, id);
}
