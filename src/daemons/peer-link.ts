import type { CloseCode, Frame } from '@arbor/gateway-client/protocol';
import type { EventFrame } from './streams/event-frame.js';

/**
 * A connected peer as the services see it. The gateway implements it over a WebSocket, so
 * services route frames without touching sockets. A stream event is sent as its EventFrame,
 * serialized (and encoded) once for every recipient.
 */
export interface PeerLink {
  readonly id: string;
  send(frame: Frame | EventFrame): void;
  close(code: CloseCode, reason: string): void;
  /** A daemon's events up to its own `inboundSeq` are recorded: they may be acknowledged to it. */
  acknowledge?(inboundSeq: number): void;
}
