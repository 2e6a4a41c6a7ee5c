import { ClientBase } from './client-base.js';
import { withQuery } from './connect-url.js';
import { randomId } from './random-id.js';
import { GatewayRequestError } from './errors.js';
import { DEFAULT_GATEWAY_URL } from './gateway-client.js';
import {
  ClientMessageType,
  DaemonMessageType,
  ServerMessageType,
  type DaemonAckPayload,
  type DaemonConnectedPayload,
  type ErrorPayload,
  type FileChangeEvent,
  type ForwardedCancelTaskPayload,
  type ForwardedRunTaskPayload,
  type Frame,
  type TaskStatus,
  type TraceContext,
} from './protocol.js';
import { ConnectionState, type ReconnectingWebSocketOptions, type UrlSource } from './reconnecting-websocket.js';
import type { TimerHandle } from './timers.js';

export interface DaemonClientOptions extends Omit<ReconnectingWebSocketOptions, 'url'> {
  /** The gateway's WebSocket URL. Default ws://localhost:3001/ws. */
  url?: UrlSource;
  /** The workspaces this daemon serves, sent with every heartbeat. */
  workspaceIds?: string[];
  /** How often the `heartbeat` frame goes out. Default 10 000 ms (the gateway marks a daemon stale after 30 s). */
  daemonHeartbeatInterval?: number;
  /** Events kept until the gateway acknowledges them (sent again after a reconnect). Default 10 000; past it the oldest are dropped (`drop`). */
  maxUnacknowledged?: number;
  /**
   * Bytes on the socket past which the link counts as backed up: the event helpers return false
   * and `drain` follows once it is below half. Default 1 MiB. The gateway stops reading a daemon
   * whose viewers fall behind, so this is how their pace reaches the daemon.
   */
  highWaterMark?: number;
  /**
   * How long a command id is remembered once taken, so a command the gateway sends again (after a
   * reconnect, before it saw the confirmation) reaches the handler once. Default 10 minutes; keep
   * it at least the gateway's COMMAND_TTL_MS (default 60 s).
   */
  commandMemoryMs?: number;
}

export interface DaemonClientEvents {
  'run-task': ForwardedRunTaskPayload;
  'cancel-task': ForwardedCancelTaskPayload;
  connected: DaemonConnectedPayload;
  state: ConnectionState;
  /** An `error` frame from the gateway (e.g. validation_failed), or a connection error. */
  error: Error;
  /** An unacknowledged event dropped because more than `maxUnacknowledged` were outstanding. */
  drop: { seq: number; frame: string };
  /** After a helper returned false: the link is open and no longer backed up; send more. */
  drain: undefined;
}

/** Tasks whose trace context is kept for their statuses, at most. */
const MAX_TRACED_TASKS = 1_000;
const FINAL_TASK_STATUSES: ReadonlySet<TaskStatus> = new Set<TaskStatus>(['succeeded', 'failed', 'cancelled']);

/** While backed up, the socket's buffer is checked this often (WebSocket has no drain event). */
const DRAIN_POLL_MS = 10;
const DEFAULT_COMMAND_MEMORY_MS = 10 * 60 * 1000;

/** A typed client for daemon authors (Node): heartbeats, event helpers, commands as events. */
export class DaemonClient extends ClientBase<DaemonClientEvents> {
  private readonly heartbeatIntervalMs: number;
  private heartbeatTimer: TimerHandle | undefined;
  private workspaces: string[];
  /** Task id → the trace context of the command that started it (echoed on its statuses). */
  private readonly traceContexts = new Map<string, TraceContext>();
  /** Names this numbering of our events; the gateway keeps the last number it recorded per session. */
  readonly session = randomId();
  private nextSeq = 1;
  /** Events sent (or waiting) and not yet acknowledged, oldest first. */
  private unacknowledged: Array<{ seq: number; frame: string }> = [];
  private readonly maxUnacknowledged: number;
  private readonly highWaterMark: number;
  private drainTimer: TimerHandle | undefined;
  private awaitingDrain = false;
  /** Command ids taken, with when; Map order is the order taken, so the oldest are forgotten first. */
  private readonly takenCommands = new Map<string, number>();
  private readonly commandMemoryMs: number;

  constructor(options: DaemonClientOptions) {
    const {
      url = DEFAULT_GATEWAY_URL,
      workspaceIds = [],
      daemonHeartbeatInterval = 10_000,
      maxUnacknowledged = 10_000,
      highWaterMark = 1024 * 1024,
      commandMemoryMs = DEFAULT_COMMAND_MEMORY_MS,
      ...rest
    } = options;
    super({ ...rest, url: withQuery(url, () => ({ session: this.session })) });
    this.maxUnacknowledged = maxUnacknowledged;
    this.highWaterMark = highWaterMark;
    this.commandMemoryMs = commandMemoryMs;
    this.workspaces = [...workspaceIds];
    this.heartbeatIntervalMs = daemonHeartbeatInterval;
    this.unsubscribers.push(
      this.connection.on('open', () => this.sendHeartbeat()),
      this.connection.on('message', (frame) => this.handle(frame)),
      this.connection.on('statechange', ({ current }) => {
        if (current !== ConnectionState.Open) this.timers.cancel(this.heartbeatTimer);
      }),
    );
    this.start();
  }

  get workspaceIds(): readonly string[] {
    return this.workspaces;
  }

  /** Replaces the workspace list and announces it with a heartbeat right away. */
  setWorkspaces(workspaceIds: string[]): void {
    this.workspaces = [...workspaceIds];
    this.sendHeartbeat();
  }

  /**
   * Each helper numbers the event and sends it. It returns true when it went out and the link is
   * not backed up; false when the link is down or backed up — then wait for `drain` before sending
   * more. Either way the event is kept until the gateway acknowledges it and sent again after a
   * reconnect, so none is lost and the gateway drops the repeats.
   */
  workspaceUpdate(workspaceId: string, status: string): boolean {
    return this.sendEvent(DaemonMessageType.WorkspaceUpdate, { workspaceId, status });
  }

  fileChange(workspaceId: string, path: string, event: FileChangeEvent): boolean {
    return this.sendEvent(DaemonMessageType.FileChange, { workspaceId, path, event });
  }

  /** Sends a task's status; it carries the trace context of the command that started the task, if any. */
  taskStatus(taskId: string, status: TaskStatus, details: { output?: string; error?: string } = {}): boolean {
    const tc = this.traceContexts.get(taskId);
    // The last status of a task ends its trace: nothing more to echo.
    if (tc && FINAL_TASK_STATUSES.has(status)) this.traceContexts.delete(taskId);
    return this.sendEvent(DaemonMessageType.TaskStatus, { taskId, status, ...details }, tc);
  }

  /** Remembers a command's trace context for its task's statuses (the oldest are forgotten past a bound). */
  private rememberTraceContext(taskId: string, tc: TraceContext | undefined): void {
    if (!tc) return;
    this.traceContexts.delete(taskId);
    this.traceContexts.set(taskId, tc);
    if (this.traceContexts.size > MAX_TRACED_TASKS) this.traceContexts.delete(this.traceContexts.keys().next().value!);
  }

  /** True while the link is down or holds more than `highWaterMark` bytes not yet on the network. */
  get backedUp(): boolean {
    return this.connection.state !== ConnectionState.Open || this.connection.bufferedAmount > this.highWaterMark;
  }

  /** Events not yet acknowledged by the gateway. */
  get unacknowledgedCount(): number {
    return this.unacknowledged.length;
  }

  private sendEvent(type: DaemonMessageType, payload: object, tc?: TraceContext): boolean {
    const seq = this.nextSeq++;
    const frame = JSON.stringify(tc ? { type, payload, seq, tc } : { type, payload, seq });
    this.unacknowledged.push({ seq, frame });
    if (this.unacknowledged.length > this.maxUnacknowledged) this.emit('drop', this.unacknowledged.shift()!);
    const sent = this.connection.send(frame, { volatile: true });
    if (sent && this.connection.bufferedAmount <= this.highWaterMark) return true;
    this.awaitDrain();
    return false;
  }

  private awaitDrain(): void {
    if (this.awaitingDrain) return;
    this.awaitingDrain = true;
    this.drainTimer = this.timers.after(DRAIN_POLL_MS, () => this.checkDrain());
  }

  private checkDrain(): void {
    if (this.connection.state === ConnectionState.Open && this.connection.bufferedAmount <= this.highWaterMark / 2) {
      this.awaitingDrain = false;
      this.emit('drain', undefined);
      return;
    }
    this.drainTimer = this.timers.after(DRAIN_POLL_MS, () => this.checkDrain());
  }

  private acknowledged(seq: number): void {
    let count = 0;
    while (count < this.unacknowledged.length && this.unacknowledged[count].seq <= seq) count += 1;
    if (count) this.unacknowledged.splice(0, count);
  }

  private sendHeartbeat(): void {
    this.timers.cancel(this.heartbeatTimer);
    // Volatile: a heartbeat is only meaningful now; a stale one must not be replayed later.
    this.connection.send({ type: DaemonMessageType.Heartbeat, payload: { workspaceIds: this.workspaces } }, { volatile: true });
    if (this.connection.state === ConnectionState.Open) {
      this.heartbeatTimer = this.timers.after(this.heartbeatIntervalMs, () => this.sendHeartbeat());
    }
  }

  /**
   * A command, handed to its handler once per id, then confirmed (`command-ack`). Confirmed after
   * the handler was called, not before: a confirmation tells the gateway the command is in this
   * process's hands, so it must not go out for a command no code of ours has seen. A repeat (sent
   * again after a reconnect) is confirmed again without calling the handler: the first
   * confirmation may have been lost with the connection.
   */
  private command(frame: Frame<ClientMessageType.RunTask | ClientMessageType.CancelTask, ForwardedRunTaskPayload | ForwardedCancelTaskPayload>): void {
    const id = frame.id;
    const payload = frame.payload as ForwardedRunTaskPayload | ForwardedCancelTaskPayload;
    if (id === undefined || !this.takenCommands.has(id)) {
      if (id !== undefined) this.rememberCommand(id);
      this.rememberTraceContext(payload.taskId, frame.tc);
      // The emitter keeps a throwing handler from stopping the confirmation.
      if (frame.type === ClientMessageType.RunTask) this.emit('run-task', payload as ForwardedRunTaskPayload);
      else this.emit('cancel-task', payload);
    }
    // Volatile: a confirmation belongs to this connection; after a reconnect the gateway sends the command again.
    if (id !== undefined) this.connection.send({ type: DaemonMessageType.CommandAck, payload: { id } }, { volatile: true });
  }

  private rememberCommand(id: string): void {
    const now = Date.now();
    for (const [taken, at] of this.takenCommands) {
      if (now - at < this.commandMemoryMs) break;
      this.takenCommands.delete(taken);
    }
    this.takenCommands.set(id, now);
  }

  private handle(frame: Frame): void {
    switch (frame.type) {
      case ServerMessageType.Connected: {
        const payload = frame.payload as DaemonConnectedPayload;
        // Whatever the gateway recorded is done; everything after it goes again, in order.
        this.acknowledged(payload.lastSeq);
        for (const { frame: event } of this.unacknowledged) this.connection.send(event, { volatile: true });
        this.emit('connected', payload);
        return;
      }
      case ServerMessageType.Ack:
        this.acknowledged((frame.payload as DaemonAckPayload).seq);
        return;
      case ClientMessageType.RunTask:
      case ClientMessageType.CancelTask:
        return this.command(frame as Frame<ClientMessageType.RunTask | ClientMessageType.CancelTask, ForwardedRunTaskPayload | ForwardedCancelTaskPayload>);
      case ServerMessageType.Error:
        this.emit('error', new GatewayRequestError(frame.payload as ErrorPayload));
        return;
    }
  }
}
