import { ServerMessageType, type CloseCode, type Frame, type SubscribedPayload, type UnsubscribedPayload } from '@arbor/gateway-client/protocol';
import type { PeerLink } from '../../daemons/peer-link.js';
import { EventFrame } from '../../daemons/streams/event-frame.js';
import { PathCoalescer } from '../flow/path-coalescer.js';

/** What a subscription needs of its connection (the transport's Connection is one). */
export interface SubscriptionHost {
  readonly id: string;
  send(frame: Frame | EventFrame, bounded?: boolean): void;
  readonly subscriptions: Map<string, Subscription> | undefined;
}

/**
 * One daemon watched on a multiplexed connection (opened without `daemonId`): the PeerLink the
 * broker delivers that daemon's frames to. Like a single-daemon connection during its admission,
 * it holds what arrives until its `subscribed` snapshot is out, then drops what the snapshot or
 * the replay covered — no gap and no duplicate at the seam, per subscription.
 */
export class Subscription implements PeerLink {
  readonly id: string;
  private held: Array<Frame | EventFrame> | null = [];
  private ended = false;
  /** Present when the subscription asked for per-path coalescing of its live events. */
  private readonly coalescer: PathCoalescer | undefined;

  constructor(
    readonly connection: SubscriptionHost,
    readonly daemonId: string,
    /** Tells the domain the watcher is gone (after an `unsubscribe`, or when the gateway ends it). */
    private readonly onEnd: (subscription: Subscription) => void,
    coalesceMs?: number,
  ) {
    this.id = `${connection.id}/${daemonId}`;
    this.coalescer = coalesceMs === undefined ? undefined : new PathCoalescer(coalesceMs, (frame) => this.connection.send(frame));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  send(frame: Frame | EventFrame): void {
    if (this.ended) return;
    if (this.held) this.held.push(frame);
    else if (this.coalescer) this.coalescer.push(frame);
    else this.connection.send(frame);
  }

  /** The `subscribed` reply, then `follow` (replay or resync), then what arrived meanwhile past `afterSeq`. */
  release(subscribed: Frame, follow: ReadonlyArray<Frame | EventFrame>, afterSeq: number): void {
    const held = this.held ?? [];
    this.held = null;
    this.connection.send(subscribed, false);
    const { stream } = subscribed.payload as SubscribedPayload;
    this.coalescer?.startAt(stream);
    // The replay and what arrived meanwhile go out whole: coalescing starts with the live events.
    const sendNow = (frame: Frame | EventFrame) => {
      this.connection.send(frame, false);
      this.coalescer?.wrote(frame);
    };
    for (const frame of follow) sendNow(frame);
    for (const frame of held) if (!(frame instanceof EventFrame) || frame.seq > afterSeq) sendNow(frame);
  }

  /**
   * Ends the subscription: nothing more of this daemon reaches the connection. With a reason the
   * gateway ended it and says so (`unsubscribed {daemonId, reason}`); an `unsubscribe` is answered
   * by its handler.
   */
  end(reason?: UnsubscribedPayload['reason']): void {
    if (this.ended) return;
    this.ended = true;
    this.held = null;
    this.coalescer?.stop();
    this.connection.subscriptions?.delete(this.daemonId);
    if (reason) this.connection.send({ type: ServerMessageType.Unsubscribed, payload: { daemonId: this.daemonId, reason } satisfies UnsubscribedPayload });
    this.onEnd(this);
  }

  /** The broker never closes a watcher; if it did, the subscription would end, not the connection. */
  close(_code: CloseCode, _reason: string): void {
    this.end();
  }
}
