import type { CloseCode } from '@arbor/gateway-client/protocol';
import type { PeerLink } from '../../src/daemons/peer-link.js';
import { EventFrame } from '../../src/daemons/streams/event-frame.js';

/** A PeerLink that records what the services send it, for tests below the socket layer. */
export class RecordingLink implements PeerLink {
  readonly frames: any[] = [];
  closedWith: { code: CloseCode; reason: string } | undefined;

  constructor(readonly id: string) {}

  /** Records what a peer would receive: an event's text as parsed, other frames as they are. */
  send(frame: object): void {
    this.frames.push(frame instanceof EventFrame ? JSON.parse(frame.text) : frame);
  }

  close(code: CloseCode, reason: string): void {
    this.closedWith = { code, reason };
  }

  statuses(): string[] {
    return this.frames.filter((frame) => frame.type === 'daemon-status').map((frame) => frame.payload.status);
  }

  ofType(type: string): any[] {
    return this.frames.filter((frame) => frame.type === type);
  }
}
