import type { Emitter } from './emitter.js';
import { GatewayRequestError } from './errors.js';
import {
  DAEMON_EVENT_TYPES,
  DaemonMessageType,
  ServerMessageType,
  type ClientConnectedPayload,
  type DaemonEventFrame,
  type DaemonStatus,
  type DaemonStatusPayload,
  type ErrorPayload,
  type Frame,
  type ResyncRequiredPayload,
  type StreamPosition,
  type SubscribedPayload,
} from './protocol.js';

/** What one daemon's stream tells its watchers, on a connection of its own or on a shared one. */
export interface DaemonViewEvents<Snapshot> {
  'file-change': DaemonEventFrame<DaemonMessageType.FileChange>;
  'task-status': DaemonEventFrame<DaemonMessageType.TaskStatus>;
  'workspace-update': DaemonEventFrame<DaemonMessageType.WorkspaceUpdate>;
  'daemon-status': DaemonStatusPayload;
  /** The gateway admitted (or re-admitted) the watch; `recovered` says whether it resumed. */
  connected: Snapshot;
  /**
   * Resuming failed (the position left the history, or the stream's epoch changed): rebuild
   * from `snapshot`; events from here on continue from its position.
   */
  resync: { reason: string; snapshot: Snapshot | undefined };
  /** Every frame of this daemon, for anything the typed events do not cover. */
  message: Frame;
  /** An `error` frame that answered no request. */
  error: Error;
}

/** How a view gets its stream back: resume from its position, or (`fresh`) start over from a new snapshot. */
export type Recover = (fresh: boolean) => void;

/**
 * One daemon's state as its frames reveal it: status, workspaces and the position in its event
 * stream. Every frame passes through `handle` in arrival order; a duplicate is dropped, a gap or a
 * live `resync-required` asks `recover` for the stream again, so watchers see each event once, in
 * order, or a `resync`.
 */
export class DaemonView<Snapshot extends SubscribedPayload = ClientConnectedPayload> {
  status: DaemonStatus | undefined;
  heartbeatAt: string | null = null;
  workspaceIds: string[] = [];
  position: StreamPosition | undefined;
  lastSnapshot: Snapshot | undefined;
  /** The last frame handled was the snapshot: a `resync-required` now answers the resume. */
  private justConnected = false;
  /** A live `resync-required` asked for a fresh snapshot; `resync` is emitted with it. */
  private resyncOnSnapshot: string | undefined;

  constructor(
    readonly daemonId: string,
    /** The watchers' emitter (its event map extends DaemonViewEvents). */
    private readonly events: Emitter<DaemonViewEvents<Snapshot>>,
    private readonly recover: Recover,
  ) {}

  /** Whether the latest (re)admission resumed without loss. */
  get recovered(): boolean {
    return this.lastSnapshot?.recovered ?? false;
  }

  /** Handles one frame of this daemon: the snapshot (`connected` or `subscribed`), its events and notices. */
  handle(frame: Frame): void {
    const afterSnapshot = this.justConnected;
    const isSnapshot = frame.type === ServerMessageType.Connected || frame.type === ServerMessageType.Subscribed;
    this.justConnected = isSnapshot;
    if (!this.advance(frame)) return;
    this.events.emit('message', frame);
    if (isSnapshot) return this.snapshot(frame.payload as Snapshot);
    switch (frame.type) {
      case ServerMessageType.ResyncRequired: {
        const { reason } = frame.payload as ResyncRequiredPayload;
        if (afterSnapshot) return this.events.emit('resync', { reason, snapshot: this.lastSnapshot });
        // On a live stream (it lost history): start over from a fresh snapshot.
        this.position = undefined;
        this.resyncOnSnapshot = reason;
        this.recover(true);
        return;
      }
      case ServerMessageType.DaemonStatus: {
        const payload = frame.payload as DaemonStatusPayload;
        this.status = payload.status;
        this.heartbeatAt = payload.lastHeartbeat;
        this.events.emit('daemon-status', payload);
        return;
      }
      case ServerMessageType.Error:
        this.events.emit('error', new GatewayRequestError(frame.payload as ErrorPayload));
        return;
      default:
        if ((DAEMON_EVENT_TYPES as readonly string[]).includes(frame.type)) {
          this.events.emit(frame.type as DaemonMessageType.FileChange, frame as unknown as DaemonEventFrame<DaemonMessageType.FileChange>);
        }
    }
  }

  private snapshot(payload: Snapshot): void {
    this.status = payload.daemonStatus;
    this.workspaceIds = payload.workspaceIds;
    // Resumed: the missed events follow, so the position stays until they arrive.
    if (!payload.recovered || !this.position) this.position = payload.stream;
    this.lastSnapshot = payload;
    this.events.emit('connected', payload);
    const reason = this.resyncOnSnapshot;
    this.resyncOnSnapshot = undefined;
    if (reason !== undefined) this.events.emit('resync', { reason, snapshot: payload });
  }

  /**
   * Moves the position along the daemon's stream. Returns false for a frame already processed
   * (a duplicate); on an impossible gap, asks to resume from the last good position.
   */
  private advance(frame: Frame & { epoch?: string; seq?: number; prev?: number }): boolean {
    if (frame.seq === undefined || frame.epoch === undefined) return true;
    const position = this.position;
    if (position && frame.epoch === position.epoch) {
      if (frame.seq <= position.seq) return false;
      // On a coalescing subscription `prev` names the event before (merged-away ones between).
      if ((frame.prev ?? frame.seq - 1) !== position.seq) {
        this.recover(false);
        return false;
      }
    } else if (position) {
      this.events.emit('resync', { reason: 'epoch_changed', snapshot: this.lastSnapshot });
    }
    this.position = { epoch: frame.epoch, seq: frame.seq };
    return true;
  }
}
