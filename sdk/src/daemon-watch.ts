import { DaemonView, type DaemonViewEvents, type Recover } from './daemon-view.js';
import { Emitter, type Listener, type Unsubscribe } from './emitter.js';
import type { GatewayRequestError } from './errors.js';
import {
  type AckPayload,
  type CommandStatus,
  type DaemonStatus,
  type StreamPosition,
  type SubscribedPayload,
  type WorkspaceStatusPayload,
} from './protocol.js';

/** Why a watch ended without being closed: the token does not allow the daemon, or the gateway refused it. */
export type WatchEndReason = 'forbidden' | 'refused';

export interface DaemonWatchEvents extends DaemonViewEvents<SubscribedPayload> {
  /** The gateway ended or refused the subscription; the watch receives nothing more. */
  ended: { reason: WatchEndReason; error?: GatewayRequestError };
}

export enum WatchState {
  /** Waiting for `subscribed` (first time, after a reconnect, or resuming after a gap). */
  Subscribing = 'subscribing',
  Subscribed = 'subscribed',
  /** Closed, or ended by the gateway: nothing more arrives. */
  Ended = 'ended',
}

export interface WatchOptions {
  /**
   * Merge `file-change` events of one path within this window (10–1000 ms) into the last of them
   * (`merged` on the frame counts them); positions stay exact. Set by the first watch of a daemon.
   */
  coalesceMs?: number;
}

export interface RunTaskRequest {
  workspaceId: string;
  command: string;
  args?: string[];
  /** Generated when omitted. */
  taskId?: string;
}

/**
 * A command's answer: the ack, and on a `GatewayClient` the command's id and `delivery` (resolves
 * `delivered` once the daemon confirmed it, `expired` when COMMAND_TTL_MS passed without that).
 */
export type CommandAnswer = AckPayload & { id?: string; delivery?: Promise<CommandStatus> };

/** What a watch needs from the client holding its connection. */
export interface WatchHost {
  runTaskOn(daemonId: string, request: RunTaskRequest): Promise<{ taskId: string } & CommandAnswer>;
  cancelTaskOn(daemonId: string, taskId: string): Promise<CommandAnswer>;
  workspaceStatusOf(daemonId: string, workspaceId: string): Promise<WorkspaceStatusPayload>;
  release(watched: WatchedDaemon): void;
}

/**
 * One subscription on a multiplexed connection, shared by every `DaemonWatch` of its daemon:
 * the daemon's view of the stream, its listeners and how many handles hold it.
 * @internal
 */
export class WatchedDaemon {
  readonly events = new Emitter<DaemonWatchEvents>();
  readonly view: DaemonView<SubscribedPayload>;
  state = WatchState.Subscribing;
  handles = 0;

  constructor(
    readonly daemonId: string,
    recover: Recover,
    readonly coalesceMs?: number,
  ) {
    // DaemonWatchEvents extends the view's events: the view emits a subset of them.
    this.view = new DaemonView<SubscribedPayload>(daemonId, this.events as unknown as Emitter<DaemonViewEvents<SubscribedPayload>>, recover);
  }

  end(reason: WatchEndReason, error?: GatewayRequestError): void {
    if (this.state === WatchState.Ended) return;
    this.state = WatchState.Ended;
    this.events.emit('ended', error ? { reason, error } : { reason });
    this.events.removeAll();
  }
}

/**
 * A daemon watched on a client's shared connection (`client.watch(daemonId)`): the same state,
 * events and requests as a single-daemon `GatewayClient`. Each call to `watch` returns its own
 * handle; the subscription lasts until the last handle of the daemon is closed.
 */
export class DaemonWatch {
  private readonly unsubscribers: Unsubscribe[] = [];
  private closed = false;

  /** @internal */
  constructor(
    private readonly watched: WatchedDaemon,
    private readonly host: WatchHost,
  ) {
    watched.handles += 1;
  }

  get daemonId(): string {
    return this.watched.daemonId;
  }

  get state(): WatchState {
    return this.closed ? WatchState.Ended : this.watched.state;
  }

  /** The daemon's status as last reported; undefined before the first `subscribed`. */
  get daemonStatus(): DaemonStatus | undefined {
    return this.watched.view.status;
  }

  get lastHeartbeat(): string | null {
    return this.watched.view.heartbeatAt;
  }

  get workspaceIds(): readonly string[] {
    return this.watched.view.workspaceIds;
  }

  /** The last event processed: where the subscription resumes after a reconnect. */
  get position(): StreamPosition | undefined {
    return this.watched.view.position;
  }

  /** Whether the latest (re)subscription resumed without loss. */
  get recovered(): boolean {
    return this.watched.view.recovered;
  }

  on<K extends keyof DaemonWatchEvents>(event: K, listener: Listener<DaemonWatchEvents[K]>): Unsubscribe {
    const unsubscribe = this.watched.events.on(event, listener);
    this.unsubscribers.push(unsubscribe);
    return unsubscribe;
  }

  getWorkspaceStatus(workspaceId: string): Promise<WorkspaceStatusPayload> {
    return this.host.workspaceStatusOf(this.daemonId, workspaceId);
  }

  /** Starts a task on the daemon; resolves once the gateway handed it over. */
  runTask(request: RunTaskRequest): Promise<{ taskId: string } & CommandAnswer> {
    return this.host.runTaskOn(this.daemonId, request);
  }

  /** Resolves with `accepted` (or `duplicate` for a retried id); rejects with daemon_offline. */
  cancelTask(taskId: string): Promise<CommandAnswer> {
    return this.host.cancelTaskOn(this.daemonId, taskId);
  }

  /** Removes this handle's listeners; the last handle of a daemon unsubscribes from it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    this.watched.handles -= 1;
    if (this.watched.handles === 0) this.host.release(this.watched);
  }
}
