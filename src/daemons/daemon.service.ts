import { Injectable, Logger, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import {
  CloseCode,
  DaemonMessageType,
  DaemonStatus,
  ServerMessageType,
  type ClientConnectedPayload,
  type DaemonConnectedPayload,
  type DaemonEventPayloads,
  type DaemonEventType,
  type DaemonStatusPayload,
  type Frame,
  type ResyncRequiredPayload,
  type StreamPosition,
  type TaskStatusPayload,
  type TraceContext,
  type WorkspaceStatusPayload,
  type WorkspaceUpdatePayload,
} from '@arbor/gateway-client/protocol';
import { GatewayConfig } from '../config/gateway-config.js';
import { isUnavailable } from '../errors/domain.error.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { Attr, messagingSpan, SpanKind, traceContextOf } from '../tracing/tracing.js';
import { WorkspacesService } from '../workspaces/workspaces.service.js';
import { CommandService } from './commands/command.service.js';
import { DaemonBroker } from './daemon.broker.js';
import type { EventFrame } from './streams/event-frame.js';
import { EventStreams, type InboundPosition, type StreamSink } from './streams/event-streams.js';
import type { PeerLink } from './peer-link.js';
import { DaemonDirectory } from './daemon-directory.js';
import { TransitionKind, type DaemonTransition, type TransitionListener } from './daemon-transition.js';

/** What admitting a client produces: its `connected` payload and what follows it. */
export interface ClientAdmission {
  /** The gateway adds when the connection's authorization ends. */
  connected: Omit<ClientConnectedPayload, 'authExpiresAt'>;
  /** Replayed events, or a resync-required frame, to send right after `connected`. */
  follow: Array<EventFrame | Frame>;
  /** Events at or before this seq are covered by the snapshot or the replay. */
  afterSeq: number;
}

export interface DaemonHealthSnapshot {
  online: number;
  stale: number;
  /** Daemons that clients here are watching but that are not connected. */
  offline: number;
  timedOutTotal: number;
  lastSweepAt: string;
  sweepIntervalMs: number;
}

/**
 * Daemon lifecycle, heartbeats, event fan-out and command routing. Works on PeerLinks and the
 * DaemonBroker; it never sees a socket.
 */
@Injectable()
export class DaemonService implements OnModuleInit, OnModuleDestroy, StreamSink {
  private readonly logger = new Logger(DaemonService.name);
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastSweepAt = Date.now();
  private timedOutTotal = 0;
  private readonly transitionListeners = new Set<TransitionListener>();

  constructor(
    private readonly broker: DaemonBroker,
    private readonly workspaces: WorkspacesService,
    private readonly config: GatewayConfig,
    private readonly streams: EventStreams,
    private readonly commands: CommandService,
    private readonly directory: DaemonDirectory,
    @Optional() private readonly metrics?: GatewayMetrics,
  ) {
    streams.connect(this);
  }

  /** Registers a listener told of every presence transition this instance sees (webhooks). */
  onTransition(listener: TransitionListener): void {
    this.transitionListeners.add(listener);
  }

  onModuleInit(): void {
    // A daemon whose instance died never says goodbye: the shared broker notices, we announce it.
    this.broker.onDaemonLost((daemonId, lastHeartbeat) => {
      this.announce(daemonId, DaemonStatus.Offline, lastHeartbeat, undefined);
      this.transition(daemonId, TransitionKind.Offline);
    });
    if (this.metrics) {
      this.metrics.sources.daemons = () => {
        const { online, stale, offline } = this.healthSnapshot();
        return { [DaemonStatus.Online]: online, [DaemonStatus.Stale]: stale, [DaemonStatus.Offline]: offline };
      };
    }
    this.lastSweepAt = Date.now();
    this.sweepTimer = setInterval(() => void this.sweep(), this.config.sweepIntervalMs);
  }

  onModuleDestroy(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  // ---- daemons -------------------------------------------------------------------------------

  async connectDaemon(daemonId: string, link: PeerLink, session?: string): Promise<Omit<DaemonConnectedPayload, 'authExpiresAt'>> {
    // Without shared state the daemon is still admitted: its clients here keep working.
    const previous = await this.broker.getPresence(daemonId).catch((error: unknown) => {
      if (!isUnavailable(error)) throw error;
      return undefined;
    });
    // From here on only this connection numbers the daemon's events; the lastSeq it is given
    // covers every event any client has received.
    const lastSeq = await this.streams.takeOver(daemonId, link.id, session);
    const { presence, replaced } = await this.broker.attachDaemon(daemonId, link, Date.now());
    if (replaced) {
      this.logger.log({ msg: 'daemon replaced by a newer connection', daemonId, connectionId: replaced.id });
      replaced.close(CloseCode.Replaced, 'replaced by a newer connection');
    }
    // The commands still waiting for the daemon follow `connected`, in order.
    await this.commands.attached(daemonId, link);
    if (previous?.status !== DaemonStatus.Online) this.publishStatus(presence, link.id);
    this.transition(daemonId, previous || replaced ? TransitionKind.Replaced : TransitionKind.Online);
    this.inBackground('daemon directory', () => this.directory.recordSeen(daemonId));
    return { workspaceIds: await this.knownWorkspaces(daemonId), lastSeq, timestamp: new Date().toISOString() };
  }

  /**
   * A daemon's connection closed. With `handover` (a drain) it is expected back on another
   * instance: its presence is left to expire rather than announced offline, so its clients see no
   * blip if it returns in time, and `offline` (from the expiry) if it does not.
   */
  async disconnectDaemon(daemonId: string, link: PeerLink, handover = false): Promise<void> {
    this.commands.detached(daemonId, link);
    try {
      const presence = await this.broker.getPresence(daemonId);
      if (!(await this.broker.detachDaemon(daemonId, link, handover))) return;
      if (handover && this.broker.isShared) return;
      this.publishStatus({ daemonId, status: DaemonStatus.Offline, lastHeartbeat: presence?.lastHeartbeat ?? null }, link.id);
      this.transition(daemonId, TransitionKind.Offline);
      if (!this.broker.isWatchedLocally(daemonId)) await this.workspaces.forget(daemonId);
    } finally {
      // After its last event (the offline status): the connection numbers nothing more.
      this.streams.release(daemonId, link.id);
    }
  }

  async heartbeat(daemonId: string, link: PeerLink, workspaceIds: readonly string[]): Promise<void> {
    const before = await this.broker.getPresence(daemonId);
    const presence = await this.broker.updatePresence(daemonId, { lastHeartbeat: Date.now(), status: DaemonStatus.Online });
    if (presence && before?.status === DaemonStatus.Stale) {
      this.publishStatus(presence, link.id);
      this.transition(daemonId, TransitionKind.Online);
    }
    await this.degradeGracefully('workspace list', () => this.workspaces.replaceWorkspaces(daemonId, workspaceIds));
  }

  /** Records a workspace's new status, then forwards the update to the daemon's clients. */
  async updateWorkspace(daemonId: string, link: PeerLink, payload: WorkspaceUpdatePayload, inbound?: InboundPosition): Promise<void> {
    await this.degradeGracefully('workspace status', () => this.workspaces.recordStatus(daemonId, payload.workspaceId, payload.status));
    this.relayEvent(daemonId, link, DaemonMessageType.WorkspaceUpdate, payload, inbound);
  }

  /**
   * Numbers a daemon event from its connection `link` in its stream and records it; once
   * recorded it reaches the daemon's clients (`committed`), serialized once for all of them.
   * Synchronous, so order is the daemon's.
   */
  relayEvent<T extends DaemonEventType>(
    daemonId: string,
    link: PeerLink,
    type: T,
    payload: DaemonEventPayloads[T],
    inbound?: InboundPosition,
    tc?: TraceContext,
  ): void {
    if (!tc) return this.streams.append(daemonId, link.id, { type, payload }, inbound);
    // A task status answering a traced command: its span continues the daemon's context, and the
    // relayed frame carries the span's, so the clients' delivery spans join the same trace.
    const span = messagingSpan(
      'process',
      type,
      SpanKind.CONSUMER,
      {
        [Attr.DaemonId]: daemonId,
        [Attr.Instance]: this.broker.instanceId,
        ...(type === DaemonMessageType.TaskStatus ? { [Attr.TaskId]: (payload as TaskStatusPayload).taskId } : {}),
      },
      tc,
    );
    this.streams.append(daemonId, link.id, { type, payload, tc: span ? traceContextOf(span) : tc }, inbound);
    span?.end();
  }

  // ---- recorded events (StreamSink) ------------------------------------------------------------

  committed(frame: EventFrame): void {
    this.broker.deliverEvent(frame);
  }

  acknowledged(daemonId: string, holder: string, inboundSeq: number): void {
    const link = this.broker.localDaemonLink(daemonId);
    if (link?.id === holder) link.acknowledge?.(inboundSeq);
  }

  /** A connection still sending events for a daemon another connection has taken over. */
  fenced(daemonId: string, holder: string): void {
    const link = this.broker.localDaemonLink(daemonId);
    if (link?.id !== holder) return;
    this.logger.log({ msg: 'daemon replaced by a newer connection', daemonId, connectionId: holder });
    link.close(CloseCode.Replaced, 'replaced by a newer connection');
  }

  retracted(daemonId: string, position: StreamPosition): void {
    this.logger.warn({
      msg: 'events delivered while the history was unreachable were not recorded: watchers here resync',
      daemonId,
      epoch: position.epoch,
      seq: position.seq,
    });
    this.broker.retract(daemonId, position);
  }

  // ---- clients -------------------------------------------------------------------------------

  /**
   * Admits a client: the snapshot, and — when it resumes from `since` — the events it missed or a
   * resync notice. Watching starts first: events racing the snapshot are held by the link and
   * released after it, minus those the snapshot or replay already covers (`afterSeq`).
   */
  async connectClient(daemonId: string, link: PeerLink, since?: StreamPosition, viewer?: string): Promise<ClientAdmission> {
    await this.broker.watch(daemonId, link);
    if (viewer !== undefined) this.inBackground('viewer count', () => this.directory.viewerJoined(daemonId, viewer));
    // Position first, snapshot after: whatever happens after the position is delivered (held by
    // the link), and a snapshot read later can only be newer — never older than the events skipped.
    const replay = since ? await this.streams.replay(daemonId, since) : undefined;
    if (replay) this.metrics?.replays.labels(replay.kind === 'events' ? 'recovered' : 'resync').inc();
    const position = replay?.position ?? (await this.streams.position(daemonId));
    this.broker.admitted(daemonId, position);
    const presence = await this.broker.getPresence(daemonId);
    const workspaceStatuses = await this.knownStatuses(daemonId);
    const connected: ClientAdmission['connected'] = {
      daemonId,
      workspaceIds: Object.keys(workspaceStatuses),
      workspaceStatuses,
      daemonStatus: presence?.status ?? DaemonStatus.Offline,
      stream: position,
      recovered: replay?.kind === 'events',
      timestamp: new Date().toISOString(),
    };
    const follow =
      replay?.kind === 'events'
        ? replay.frames
        : replay?.kind === 'resync'
          ? [
              {
                type: ServerMessageType.ResyncRequired,
                daemonId,
                payload: { reason: replay.reason, stream: position } satisfies ResyncRequiredPayload,
              } as Frame,
            ]
          : [];
    return { connected, follow, afterSeq: position.seq };
  }

  async disconnectClient(daemonId: string, link: PeerLink, viewer?: string): Promise<void> {
    const remaining = await this.broker.unwatch(daemonId, link);
    if (viewer !== undefined) this.inBackground('viewer count', () => this.directory.viewerLeft(daemonId, viewer));
    if (remaining === 0 && !(await this.broker.getPresence(daemonId))) await this.workspaces.forget(daemonId);
  }

  getWorkspaceStatus(daemonId: string, workspaceId: string): Promise<WorkspaceStatusPayload> {
    return this.workspaces.getStatus(daemonId, workspaceId);
  }

  // ---- heartbeat sweep -----------------------------------------------------------------------

  /** Marks silent daemons stale, then closes them with 4408 and reports them offline. */
  async sweep(now = Date.now()): Promise<void> {
    this.lastSweepAt = now;
    this.streams.prune((daemonId) => this.broker.localDaemonLink(daemonId) !== undefined || this.broker.isWatchedLocally(daemonId));
    for (const presence of Array.from(this.broker.localDaemons())) {
      const silentFor = now - (presence.lastHeartbeat ?? presence.connectedAt);
      if (silentFor >= this.config.daemonTimeoutMs) {
        const link = this.broker.localDaemonLink(presence.daemonId);
        if (!link) continue;
        this.timedOutTotal += 1;
        this.logger.warn({ msg: 'daemon heartbeat timeout', daemonId: presence.daemonId, connectionId: link.id, silentForMs: silentFor });
        link.close(CloseCode.HeartbeatTimeout, 'heartbeat timeout');
        // Report offline now: a dead peer may never complete the closing handshake.
        await this.disconnectDaemon(presence.daemonId, link);
      } else if (silentFor >= this.config.daemonStaleMs && presence.status === DaemonStatus.Online) {
        const stale = await this.broker.updatePresence(presence.daemonId, { status: DaemonStatus.Stale });
        const link = this.broker.localDaemonLink(presence.daemonId);
        if (stale && link) {
          this.publishStatus(stale, link.id);
          this.transition(presence.daemonId, TransitionKind.Stale);
        }
      }
    }
  }

  healthSnapshot(): DaemonHealthSnapshot {
    let online = 0;
    let stale = 0;
    for (const presence of this.broker.localDaemons()) {
      if (presence.status === DaemonStatus.Online) online += 1;
      else stale += 1;
    }
    let offline = 0;
    for (const daemonId of this.broker.localWatchedDaemonIds()) {
      if (!this.broker.localDaemonLink(daemonId)) offline += 1;
    }
    return {
      online,
      stale,
      offline,
      timedOutTotal: this.timedOutTotal,
      lastSweepAt: new Date(this.lastSweepAt).toISOString(),
      sweepIntervalMs: this.config.sweepIntervalMs,
    };
  }

  /** True while the sweep keeps its schedule; false when the event loop is stuck. */
  isSweepOnSchedule(now = Date.now()): boolean {
    return now - this.lastSweepAt < 3 * this.config.sweepIntervalMs;
  }

  private transition(daemonId: string, kind: TransitionKind): void {
    const transition: DaemonTransition = { daemonId, kind, at: Date.now() };
    for (const listener of this.transitionListeners) listener(transition);
  }

  /** A status change seen by the daemon's connection `holder`: an event of its stream. */
  private publishStatus(presence: { daemonId: string; status: DaemonStatus; lastHeartbeat: number | null }, holder: string): void {
    this.announce(presence.daemonId, presence.status, presence.lastHeartbeat, holder);
  }

  /**
   * Sends daemon-status to the daemon's watchers. Changes seen by the daemon's holder are events
   * of its stream; a vanished holder's daemon is announced here only, outside the stream (no
   * instance can number it), and a resuming client learns the status from its snapshot.
   */
  private announce(daemonId: string, status: DaemonStatus, lastHeartbeat: number | null, holder: string | undefined): void {
    const payload: DaemonStatusPayload = { daemonId, status, lastHeartbeat: lastHeartbeat === null ? null : new Date(lastHeartbeat).toISOString() };
    const type = ServerMessageType.DaemonStatus;
    if (holder === undefined) this.broker.deliverLocally(daemonId, { type, daemonId, payload });
    else this.streams.append(daemonId, holder, { type, payload });
  }

  /** Workspace id → status (`unknown` until reported); empty while the shared cache is unreachable. */
  private async knownStatuses(daemonId: string): Promise<Record<string, string>> {
    try {
      return await this.workspaces.statuses(daemonId);
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      return {};
    }
  }

  /** The workspace ids on record, or none while the shared cache is unreachable. */
  private async knownWorkspaces(daemonId: string): Promise<string[]> {
    try {
      return await this.workspaces.listWorkspaces(daemonId);
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      return [];
    }
  }

  /**
   * Bookkeeping for the server API that no peer waits on: issued now (so one connection's join and
   * leave reach the store in that order), not awaited in the admission path.
   */
  private inBackground(what: string, operation: () => Promise<void>): void {
    this.degradeGracefully(what, operation).catch((error: unknown) => this.logger.warn({ msg: 'bookkeeping failed', what, error: String(error) }));
  }

  /** The cache is an optimization: an outage of shared state must not stop events flowing. */
  private async degradeGracefully(what: string, operation: () => Promise<void>): Promise<void> {
    try {
      await operation();
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      this.logger.debug({ msg: 'shared state unavailable, continuing without it', what });
    }
  }
}
