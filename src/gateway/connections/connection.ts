import { Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { CLOSE_ERROR_CODES, ServerMessageType, type CloseCode, type Frame, type TraceContext } from '@arbor/gateway-client/protocol';
import { isMultiplexed } from '../../auth/principal.js';
import { EventFrame } from '../../daemons/streams/event-frame.js';
import type { Subscription } from './subscription.js';
import { errorFrameOf } from '../dispatch/frames.js';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import type { Consumer, SlowConsumerMonitor } from '../flow/slow-consumer.monitor.js';
import type { ConnectionIdentity } from '../../auth/principal.js';
import type { PeerLink } from '../../daemons/peer-link.js';
import type { Socket } from 'node:net';
import type { InboundLimiter } from '../flow/inbound-limiter.js';
import type { FanoutBudget, FanoutPeer } from '../flow/fanout-backpressure.js';
import { PauseReason } from '../flow/pause-reason.js';
import { encodeTextFrame, payloadLength } from '../dispatch/text-frame.js';
import { WriteCoalescer, type CorkedSocket } from '../flow/write-coalescer.js';
import type { HasDeadline } from '../flow/deadline-wheel.js';
import { newConnectionId } from './connection-id.js';

/** One per process: every connection's frames of one turn are written together at its end. */
const coalescer = new WriteCoalescer(undefined, (frames, target) => (target as Connection).batchWritten(frames));

const connections = new WeakMap<WebSocket, Connection>();

/** Daemon acks are coalesced: one frame acknowledges everything accepted in this window. */
const ACK_DELAY_MS = 20;

/** A close waits at most this long for the replies already owed (a handler stuck on I/O). */
const OWED_REPLIES_MAX_WAIT_MS = 5_000;

/** Close reasons are limited to 123 bytes by RFC 6455. */
const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Per-connection state, kept small: the identity, a liveness flag for WebSocket pings, and the
 * tail of the inbound queue. Frames from one connection are handled strictly in order, so
 * replies and forwarded events never overtake each other.
 */
export class Connection implements PeerLink, CorkedSocket, HasDeadline, FanoutPeer, Consumer {
  private static readonly logger = new Logger('Connection');

  isAlive = true;
  /** The id of the frame being handled, for the error filter. */
  currentFrameId: string | undefined;
  /** The daemon's own number of the frame being handled (daemon sessions only). */
  currentFrameSeq: number | undefined;
  /** The trace context of the frame being handled, if it carried one. */
  currentTraceContext: TraceContext | undefined;
  /** A client connection opened without `daemonId`: the daemons it watches, by id. */
  readonly subscriptions: Map<string, Subscription> | undefined;
  /** A daemon's session (`session` connect parameter) and the last of its events accepted. */
  session: string | undefined;
  inboundSeq = 0;
  /** The last of the daemon's events known recorded, and the last handed over to be recorded. */
  private recordedSeq = 0;
  private awaitingSeq = 0;
  /** Closed by a drain: a daemon is handed over to another instance, not announced offline. */
  handover = false;
  private ackTimer: NodeJS.Timeout | undefined;
  private inbox: Promise<unknown> = Promise.resolve();
  /** Tasks enqueued and not yet settled; zero means a frame may be handled synchronously. */
  private pending = 0;
  /** Frames routed to this peer before its `connected` frame went out; null once released. */
  private held: Array<Frame | EventFrame> | null = [];
  private pausedFor = 0;
  /** Frames read before a backpressure pause took effect, replayed in order when it ends. */
  private heldInbound: Array<() => void> | undefined;
  /** As a client: its daemon's fan-out budget on this instance. As a daemon: its own. */
  fanoutBudget: FanoutBudget | undefined;
  fanoutDaemonBudget: FanoutBudget | undefined;
  /** The TCP socket under the WebSocket: frames are written to it directly, coalesced per turn. */
  readonly raw: Socket;
  corkedFrames = 0;
  corkedBytes = 0;
  private rateLimitTimer: NodeJS.Timeout | undefined;
  /** A gateway-initiated close decided and waiting for the replies already owed; frames after it are not read. */
  private closing: { code: CloseCode; reason: string } | undefined;
  /** When the connection's authorization ends (ms), filed in the gateway's deadline wheel. */
  deadline: number | undefined;
  deadlineSlot: number | undefined;

  constructor(
    readonly socket: WebSocket,
    /** Replaced when the peer refreshes its token. */
    public identity: ConnectionIdentity,
    /** Frame size cap and message rate of this peer's role. */
    readonly limiter: InboundLimiter,
    private readonly slowConsumers?: SlowConsumerMonitor,
    private readonly metrics?: GatewayMetrics,
    /** Given before admission, so even a refused connection's log line carries it. */
    readonly id: string = newConnectionId(),
  ) {
    connections.set(socket, this);
    this.subscriptions = isMultiplexed(identity) ? new Map() : undefined;
    // ws keeps it in a private field; without it (a future ws) frames go through ws.send.
    this.raw = (socket as unknown as { _socket: Socket })._socket;
  }

  static of(socket: WebSocket): Connection | undefined {
    return connections.get(socket);
  }

  get isOpen(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  get isClosed(): boolean {
    return this.socket.readyState === this.socket.CLOSED;
  }

  /** Bytes queued for this peer and not yet written to the network. */
  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  terminate(): void {
    this.socket.terminate();
  }

  /**
   * Stops reading the socket (TCP backpressure reaches the peer) until `resumeReads(reason)`, or
   * for `ms` when given. Frames already read still arrive.
   */
  pauseReads(reason: PauseReason, ms?: number): void {
    if (!this.isOpen) return;
    if (this.pausedFor === 0) this.socket.pause();
    this.pausedFor |= reason;
    // Only the rate limit pauses for a time; backpressure ends when the viewers drain.
    if (ms === undefined || reason !== PauseReason.RateLimit || this.rateLimitTimer) return;
    this.rateLimitTimer = setTimeout(() => this.resumeReads(reason), ms);
  }

  resumeReads(reason: PauseReason): void {
    if (reason === PauseReason.RateLimit) {
      clearTimeout(this.rateLimitTimer);
      this.rateLimitTimer = undefined;
    }
    if ((this.pausedFor & reason) === 0) return;
    this.pausedFor &= ~reason;
    // Frames held back go first, in order; one of them may pause the connection again.
    while (this.heldInbound?.length && !this.isHoldingInbound) this.heldInbound.shift()!();
    if (this.pausedFor === 0 && this.isOpen) this.socket.resume();
  }

  /** While paused for backpressure even frames already read wait: the bound is kept exactly. */
  get isHoldingInbound(): boolean {
    return (this.pausedFor & PauseReason.Backpressure) !== 0;
  }

  holdInbound(handle: () => void): void {
    (this.heldInbound ??= []).push(handle);
  }

  /** Called by the coalescer with the size of each batch written to this socket. */
  batchWritten(frames: number): void {
    this.metrics?.coalescedFrames.observe(frames);
  }

  /** Releases the connection's timers once its socket has closed. */
  dispose(): void {
    clearTimeout(this.ackTimer);
    clearTimeout(this.rateLimitTimer);
  }

  /** False for a daemon event already accepted (a replay after a reconnect): drop it. */
  acceptInbound(seq: number): boolean {
    if (seq <= this.inboundSeq) return false;
    this.inboundSeq = seq;
    return true;
  }

  /** Where the daemon resumes its numbering on this connection: everything up to `lastSeq` is recorded. */
  resumeInbound(lastSeq: number): void {
    this.inboundSeq = this.recordedSeq = lastSeq;
  }

  /**
   * The daemon session position of the frame being handled, recorded with the event it produces;
   * it is acknowledged once recorded (`acknowledge`), not before.
   */
  inbound(): { session: string; seq: number } | undefined {
    if (this.session === undefined || this.currentFrameSeq === undefined) return undefined;
    this.awaitingSeq = this.currentFrameSeq;
    return { session: this.session, seq: this.currentFrameSeq };
  }

  acknowledge(inboundSeq: number): void {
    if (inboundSeq <= this.recordedSeq) return;
    this.recordedSeq = inboundSeq;
    this.scheduleAck();
  }

  /**
   * Acknowledges daemon events cumulatively, at most one ack frame per ACK_DELAY_MS: everything
   * accepted, unless an event is still being recorded — then only what is recorded, so a daemon
   * never forgets an event the gateway could still lose.
   */
  scheduleAck(): void {
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      const seq = this.awaitingSeq > this.recordedSeq ? this.recordedSeq : this.inboundSeq;
      this.send({ type: ServerMessageType.Ack, payload: { seq } });
    }, ACK_DELAY_MS);
  }

  /**
   * Queues a frame for the peer, coalesced with the others of this turn. Live traffic to a peer
   * far behind (past the slow-consumer hard limit) cuts it instead: it resumes from its position.
   * `bounded: false` is for the admission burst (snapshot and replay), which history bounds.
   */
  send(frame: Frame | EventFrame, bounded = true): void {
    if (!this.isOpen) return;
    if (this.held) {
      this.held.push(frame);
      return;
    }
    const slow = this.slowConsumers;
    const buffered = this.socket.bufferedAmount;
    if (this.metrics && buffered > this.metrics.bufferedPeak) this.metrics.bufferedPeak = buffered;
    // Far past the bound nothing more is queued: the peer is cut now and resumes from its position.
    if (bounded && slow && buffered > slow.hardLimitBytes) return slow.cut(this);
    // A stream event is encoded once, by its first recipient, and the bytes are shared.
    const wire = frame instanceof EventFrame ? (frame.wire ??= encodeTextFrame(frame.text)) : encodeTextFrame(JSON.stringify(frame));
    if (this.raw) coalescer.write(this, wire);
    else this.socket.send(wire.toString('utf8', wire.length - payloadLength(wire)));
    const bytes = wire.length;
    if (this.fanoutBudget) this.fanoutBudget.writtenSince += bytes;
    this.metrics?.sent(frame.type, payloadLength(wire));
    if (slow && buffered + bytes > slow.maxBufferedBytes) slow.overLimit(this);
  }

  /**
   * Sends the `connected` frame, then `follow` (replayed events, a resync notice), then whatever
   * was routed here meanwhile — minus events at or before `afterSeq`, which the snapshot or the
   * replay already covers: no gap and no duplicate at the seam.
   */
  release(connected: Frame, follow: ReadonlyArray<Frame | EventFrame> = [], afterSeq = -1): void {
    const held = this.held ?? [];
    this.held = null;
    this.send(connected, false);
    for (const frame of follow) this.send(frame, false);
    for (const frame of held) if (!(frame instanceof EventFrame) || frame.seq > afterSeq) this.send(frame, false);
    // The peer is waiting for `connected` to finish its handshake: no reason to hold it to the turn's end.
    coalescer.flushOne(this);
    if (this.raw) coalescer.releaseHold(this.raw);
  }

  /** True once the gateway decided to close: frames from the peer are no longer handled. */
  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Closes from the gateway's side: every reply owed for a frame already accepted goes out first,
   * then the close's error frame, then the close. The first close decided wins.
   */
  close(code: CloseCode, reason: string): void {
    if (this.closing || !this.isOpen) return;
    this.closing = { code, reason };
    if (this.pending === 0) return this.closeNow();
    const timer = setTimeout(() => this.closeNow(), OWED_REPLIES_MAX_WAIT_MS);
    this.enqueue(() => {
      clearTimeout(timer);
      this.closeNow();
    });
  }

  private closeNow(): void {
    if (!this.closing) return;
    // What this turn queued goes out before the error and close frames.
    coalescer.flush();
    closeWithError(this.socket, this.closing.code, this.closing.reason);
  }

  /** True when no earlier frame of this connection is still being handled. */
  get isIdle(): boolean {
    return this.pending === 0;
  }

  /** Runs `task` after every earlier task of this connection has settled. */
  enqueue(task: () => unknown): void {
    this.pending += 1;
    this.inbox = this.inbox
      .then(task)
      .catch((error: unknown) => {
        Connection.logger.error({ msg: 'unhandled error in frame handler', connectionId: this.id, error: String(error) });
      })
      .finally(() => {
        this.pending -= 1;
      });
  }
}

/**
 * Holds an upgrading socket's writes until its connection's `connected` frame is released (or the
 * turn ends): the 101 response and `connected` reach the peer in one write, one TCP segment.
 */
export function holdHandshakeWrites(raw: Socket): void {
  coalescer.hold(raw);
}

/** Closes a socket, first sending the `error` frame the protocol pairs with the close code. */
export function closeWithError(socket: WebSocket, code: CloseCode, reason: string): void {
  if (socket.readyState !== socket.OPEN) return;
  const errorCode = CLOSE_ERROR_CODES[code];
  if (errorCode) socket.send(JSON.stringify(errorFrameOf(errorCode, reason)));
  socket.close(code, truncateReason(reason));
}

function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  return bytes.length <= MAX_CLOSE_REASON_BYTES
    ? reason
    : bytes
        .subarray(0, MAX_CLOSE_REASON_BYTES)
        .toString('utf8')
        .replace(/\uFFFD+$/, '');
}
