import { ClientBase } from './client-base.js';
import { withQuery } from './connect-url.js';
import { DaemonView, type DaemonViewEvents } from './daemon-view.js';
import type { Emitter } from './emitter.js';
import { DaemonWatch, WatchedDaemon, WatchState, type RunTaskRequest, type WatchHost, type WatchOptions } from './daemon-watch.js';
import { randomId } from './random-id.js';
import { GatewayRequestError } from './errors.js';
import {
  ClientMessageType,
  COMMAND_TYPES,
  DEFAULT_PORT,
  formatPosition,
  ServerMessageType,
  WS_PATH,
  type AckPayload,
  type ClientConnectedPayload,
  type CommandStatus,
  type DaemonStatus,
  type ErrorPayload,
  type Frame,
  type StreamPosition,
  type UnsubscribedPayload,
  type WorkspaceStatusPayload,
  type TraceContext,
} from './protocol.js';
import { ConnectionState, type ReconnectingWebSocketOptions, type UrlSource } from './reconnecting-websocket.js';
import { RequestTracker } from './requests.js';
import { CommandStatuses } from './command-statuses.js';
import { acknowledged, daemonOf, endReasonOf, retryDelayOf, runTaskPayload, subscribePayload, withDaemon } from './watch-frames.js';

export type { RunTaskRequest } from './daemon-watch.js';
export { newTaskId } from './watch-frames.js';

/** The gateway's answer to a command, and what becomes of it. */
export interface CommandAck extends AckPayload {
  /** The command's id (the frame's): the daemon confirms it by this id. */
  id: string;
  /** `delivered` once the daemon confirmed it, `expired` when COMMAND_TTL_MS passed without that. */
  delivery: Promise<CommandStatus>;
}

export const DEFAULT_GATEWAY_URL = `ws://localhost:${DEFAULT_PORT}${WS_PATH}`;

export interface GatewayClientOptions extends Omit<ReconnectingWebSocketOptions, 'url'> {
  /** The gateway's WebSocket URL (string or function); `daemonId` is added. Default ws://localhost:3001/ws. */
  url?: UrlSource;
  /**
   * The daemon to watch; the token's `daemons` claim must include it. Omitted: the connection is
   * multiplexed and watches the daemons named with `watch(daemonId)`.
   */
  daemonId?: string;
  /** How long requests wait for their reply. Default 10 000 ms. */
  requestTimeout?: number;
  /**
   * Returns the trace context to put on each command and request (the app's active OpenTelemetry
   * span, say: `propagation.inject(context.active(), carrier)`), or undefined. The SDK itself
   * depends on no tracing library.
   */
  traceContext?: () => TraceContext | undefined;
}

export interface GatewayClientEvents extends DaemonViewEvents<ClientConnectedPayload> {
  /** The link's state changed. */
  state: ConnectionState;
  /** Every frame (on a multiplexed client: every frame of every daemon, as received). */
  message: Frame;
  /** An `error` frame that answered no request, or a connection error. */
  error: Error;
}

/**
 * A typed client for apps. Given `daemonId`, it watches that daemon on a connection of its own;
 * without it, one connection carries every daemon named with `watch(daemonId)`, each resumed
 * from its own position after a reconnect, all in one round trip.
 */
export class GatewayClient extends ClientBase<GatewayClientEvents> implements WatchHost {
  /** The daemon of a single-daemon client; undefined on a multiplexed one. */
  readonly daemonId: string | undefined;
  private readonly requests: RequestTracker;
  private readonly traceContext: (() => TraceContext | undefined) | undefined;
  /** The single daemon's stream; undefined on a multiplexed client. */
  private readonly view: DaemonView | undefined;
  /** A multiplexed client's subscriptions, by daemon. */
  private readonly watched = new Map<string, WatchedDaemon>();
  /** Frame id of each `subscribe` awaiting its answer → its subscription. */
  private readonly subscribing = new Map<string, WatchedDaemon>();
  /** Frame ids of `unsubscribe` frames whose answers are of no further interest. */
  private readonly unsubscribing = new Set<string>();
  private readonly framePrefix = randomId().slice(0, 8);
  private frameCounter = 0;
  /** Command request id → the connection (count of opens) it last went out on. */
  private readonly commandsSentOn = new Map<string, number>();
  /** Accepted commands waiting for the daemon's confirmation. */
  private readonly commandStatuses = new CommandStatuses();
  private opens = 0;

  constructor(options: GatewayClientOptions = {}) {
    const { url = DEFAULT_GATEWAY_URL, daemonId, requestTimeout = 10_000, traceContext, ...rest } = options;
    // Every attempt resumes from the last event processed (`since`), once there is one.
    super({
      ...rest,
      url: daemonId === undefined ? url : withQuery(url, () => ({ daemonId, since: this.view?.position && formatPosition(this.view.position) })),
    });
    this.daemonId = daemonId;
    this.traceContext = traceContext;
    this.requests = new RequestTracker(this.timers, requestTimeout);
    this.view =
      daemonId === undefined
        ? undefined
        : new DaemonView(
            daemonId,
            // GatewayClientEvents extends the view's events: the view emits a subset of them.
            this.events as unknown as Emitter<DaemonViewEvents<ClientConnectedPayload>>,
            (fresh) => {
              // A single-daemon connection resumes by connecting again (`since` is in its URL).
              if (fresh) this.view!.position = undefined;
              this.connection.reconnect();
            },
          );
    this.unsubscribers.push(
      this.connection.on('message', (frame) => (this.view ? this.handle(frame) : this.handleMultiplexed(frame))),
      this.connection.on('open', () => {
        this.opens += 1;
        // Every subscription asks again, each from its own position, before anything else goes out.
        for (const watched of this.watched.values()) this.subscribe(watched);
        this.resendCommands();
        // Accepted ones still waiting: the resend answers their state, and their status now comes here.
        for (const frame of this.commandStatuses.frames()) this.connection.send(frame, { volatile: true });
      }),
      this.connection.on('close', ({ willRetry }) => {
        for (const watched of this.watched.values()) if (watched.state === WatchState.Subscribed) watched.state = WatchState.Subscribing;
        this.subscribing.clear();
        this.unsubscribing.clear();
        if (!willRetry) {
          this.requests.rejectAll();
          this.commandStatuses.rejectAll();
        }
      }),
    );
    this.start();
  }

  /** The daemon's status as last reported by the gateway; undefined before the first `connected`. */
  get daemonStatus(): DaemonStatus | undefined {
    return this.view?.status;
  }

  get lastHeartbeat(): string | null {
    return this.view?.heartbeatAt ?? null;
  }

  get workspaceIds(): readonly string[] {
    return this.view?.workspaceIds ?? [];
  }

  /** The last event processed: where the next connection resumes. */
  get position(): StreamPosition | undefined {
    return this.view?.position;
  }

  /** Whether the latest (re)connection resumed without loss. */
  get recovered(): boolean {
    return this.view?.recovered ?? false;
  }

  /** Whether this client's connection carries many daemons (it was created without `daemonId`). */
  get multiplexed(): boolean {
    return this.view === undefined;
  }

  /**
   * Watches one more daemon on this (multiplexed) connection. Each call returns its own handle;
   * the subscription ends when the last handle of the daemon is closed.
   */
  watch(daemonId: string, options: WatchOptions = {}): DaemonWatch {
    if (this.view) throw new Error(`watch() needs a GatewayClient created without daemonId (this one watches "${this.view.daemonId}")`);
    let watched = this.watched.get(daemonId);
    if (!watched) {
      const created = new WatchedDaemon(daemonId, (fresh) => this.resubscribe(created, fresh), options.coalesceMs);
      watched = created;
      this.watched.set(daemonId, created);
      if (this.state === ConnectionState.Open) this.subscribe(created);
    }
    return new DaemonWatch(watched, this);
  }

  async getWorkspaceStatus(workspaceId: string): Promise<WorkspaceStatusPayload> {
    return this.workspaceStatusOf(undefined, workspaceId);
  }

  /**
   * Starts a task on the daemon; resolves once the gateway recorded it (`accepted`), with
   * `delivery`, which resolves `delivered` once the daemon confirmed it or `expired` when
   * COMMAND_TTL_MS passed without that. Rejects with daemon_offline.
   */
  runTask(request: RunTaskRequest): Promise<{ taskId: string } & CommandAck> {
    return this.runTaskOn(undefined, request);
  }

  /** Resolves with `accepted` (or `duplicate` for a retried id) and `delivery`; rejects with daemon_offline. */
  cancelTask(taskId: string): Promise<CommandAck> {
    return this.cancelTaskOn(undefined, taskId);
  }

  /** @internal On a multiplexed connection requests name their daemon (`daemonId` in the payload). */
  async workspaceStatusOf(daemonId: string | undefined, workspaceId: string): Promise<WorkspaceStatusPayload> {
    const reply = await this.request(ClientMessageType.GetWorkspaceStatus, withDaemon(daemonId, { workspaceId }));
    return reply.payload as WorkspaceStatusPayload;
  }

  /** @internal */
  async runTaskOn(daemonId: string | undefined, request: RunTaskRequest): Promise<{ taskId: string } & CommandAck> {
    const payload = runTaskPayload(daemonId, request);
    return { taskId: payload.taskId, ...(await this.sendCommand(ClientMessageType.RunTask, payload)) };
  }

  /** @internal */
  cancelTaskOn(daemonId: string | undefined, taskId: string): Promise<CommandAck> {
    return this.sendCommand(ClientMessageType.CancelTask, withDaemon(daemonId, { taskId }));
  }

  /** @internal The last handle of a daemon closed: unsubscribe. */
  release(watched: WatchedDaemon): void {
    if (this.watched.get(watched.daemonId) !== watched) return;
    this.watched.delete(watched.daemonId);
    const wasActive = watched.state !== WatchState.Ended;
    watched.state = WatchState.Ended;
    watched.events.removeAll();
    if (wasActive) this.sendUnsubscribe(watched.daemonId);
  }

  private async sendCommand(type: ClientMessageType, payload: object): Promise<CommandAck> {
    let sent: Frame | undefined;
    const reply = await this.requests.request(type, payload, this.traceContext?.(), (frame) => {
      sent = frame;
      // Queued frames go out with the next open; sent ones may need sending again after it.
      this.commandsSentOn.set(frame.id!, this.connection.send(frame) ? this.opens : this.opens + 1);
    });
    const ack = acknowledged(reply.payload as AckPayload);
    const delivery = this.commandStatuses.track(sent!, ack);
    // An app that never asks for the delivery must not see an unhandled rejection when the client closes.
    delivery.catch(() => undefined);
    return { ...ack, id: sent!.id!, delivery };
  }

  /** Sends a raw frame; returns whether it went out now (otherwise it is queued). */
  send(frame: Frame): boolean {
    return this.connection.send(frame);
  }

  protected override releaseResources(): void {
    this.requests.rejectAll();
    this.commandStatuses.rejectAll();
    for (const watched of this.watched.values()) watched.events.removeAll();
    this.watched.clear();
  }

  /** After a reconnect: send again every command still unanswered that went out on an earlier connection. */
  private resendCommands(): void {
    const unanswered = new Map(this.requests.unanswered(COMMAND_TYPES).map((frame) => [frame.id!, frame]));
    for (const id of this.commandsSentOn.keys()) if (!unanswered.has(id)) this.commandsSentOn.delete(id);
    for (const [id, frame] of unanswered) {
      if ((this.commandsSentOn.get(id) ?? 0) >= this.opens) continue;
      this.commandsSentOn.set(id, this.opens);
      this.connection.send(frame);
    }
  }

  private request(type: ClientMessageType, payload?: object): Promise<Frame> {
    return this.requests.request(type, payload, this.traceContext?.(), (frame) => this.connection.send(frame));
  }

  private nextFrameId(kind: string): string {
    return `${kind}-${this.framePrefix}-${++this.frameCounter}`;
  }

  /** Asks for a subscription from its own position. Only on an open connection: each open asks again. */
  private subscribe(watched: WatchedDaemon): void {
    if (this.state !== ConnectionState.Open) return;
    watched.state = WatchState.Subscribing;
    const payload = subscribePayload(watched.daemonId, watched.view.position, watched.coalesceMs);
    const id = this.nextFrameId('sub');
    this.subscribing.set(id, watched);
    this.connection.send({ type: ClientMessageType.Subscribe, id, payload }, { volatile: true });
  }

  private sendUnsubscribe(daemonId: string): void {
    if (this.state !== ConnectionState.Open) return;
    const id = this.nextFrameId('unsub');
    this.unsubscribing.add(id);
    this.connection.send({ type: ClientMessageType.Unsubscribe, id, payload: { daemonId } }, { volatile: true });
  }

  /**
   * A gap or a live `resync-required` on one subscription: end it and ask again (from its
   * position, or `fresh` from a new snapshot). Its frames until the answer are dropped; the
   * answer's replay brings them again.
   */
  private resubscribe(watched: WatchedDaemon, fresh: boolean): void {
    if (watched.state !== WatchState.Subscribed) return;
    if (fresh) watched.view.position = undefined;
    watched.state = WatchState.Subscribing;
    this.sendUnsubscribe(watched.daemonId);
    this.subscribe(watched);
  }

  private subscribeAnswered(watched: WatchedDaemon, frame: Frame): void {
    if (watched.state !== WatchState.Subscribing) return;
    if (frame.type === ServerMessageType.Subscribed) {
      watched.state = WatchState.Subscribed;
      watched.view.handle(frame);
      return;
    }
    const retryIn = retryDelayOf(frame);
    if (retryIn !== undefined) {
      this.timers.after(retryIn, () => {
        if (this.watched.get(watched.daemonId) === watched && watched.state === WatchState.Subscribing) this.subscribe(watched);
      });
      return;
    }
    const error = frame.payload as ErrorPayload;
    this.watched.delete(watched.daemonId);
    watched.end(endReasonOf(error.code), new GatewayRequestError(error));
  }

  /** A multiplexed connection: replies by id, then each daemon's frames to its subscription. */
  private handleMultiplexed(frame: Frame): void {
    this.emit('message', frame);
    if (frame.id !== undefined) {
      const watched = this.subscribing.get(frame.id);
      if (watched) {
        this.subscribing.delete(frame.id);
        return this.subscribeAnswered(watched, frame);
      }
      if (this.unsubscribing.delete(frame.id) || this.commandStatuses.settle(frame) || this.requests.settle(frame)) return;
    }
    if (frame.type === ServerMessageType.Connected) return;
    const daemonId = daemonOf(frame);
    const watched = daemonId === undefined ? undefined : this.watched.get(daemonId);
    if (frame.type === ServerMessageType.Unsubscribed) {
      // The gateway ended it (revoked, or a refreshed token no longer allows it).
      if (!watched) return;
      this.watched.delete(watched.daemonId);
      watched.end(endReasonOf((frame.payload as UnsubscribedPayload).reason));
      return;
    }
    if (watched) {
      // Until a resubscription is answered, its frames are dropped: the answer replays them.
      if (watched.state === WatchState.Subscribed) watched.view.handle(frame);
      return;
    }
    if (frame.type === ServerMessageType.Error) this.emit('error', new GatewayRequestError(frame.payload as ErrorPayload));
  }

  private handle(frame: Frame): void {
    if (this.commandStatuses.settle(frame) || this.requests.settle(frame)) return;
    this.view!.handle(frame);
  }
}
