import type { CloseCode, Frame } from '@arbor/gateway-client/protocol';

/**
 * A connected peer as the services see it. The gateway implements it over a WebSocket, so
 * services route frames without touching sockets. `send` takes a pre-serialized string so a
 * fan-out serializes each event once, not once per recipient.
 */
export interface PeerLink {
  readonly id: string;
  send(frame: Frame | string): void;
  close(code: CloseCode, reason: string): void;
  /** A daemon's events up to its own `inboundSeq` are recorded: they may be acknowledged to it. */
  acknowledge?(inboundSeq: number): void;
}
