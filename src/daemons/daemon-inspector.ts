import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DaemonMessageType, DaemonStatus, type Frame, type StreamPosition, type TaskStatusPayload } from '@arbor/gateway-client/protocol';
import { InstanceRegistry } from '../instances/instance-registry.js';
import { WorkspacesService } from '../workspaces/workspaces.service.js';
import { DaemonBroker } from './daemon.broker.js';
import { DaemonDirectory, type ViewerCount } from './daemon-directory.js';
import { DaemonService } from './daemon.service.js';
import type { PeerLink } from './peer-link.js';
import { EventFrame } from './streams/event-frame.js';
import { EventStreams } from './streams/event-streams.js';

/** One daemon as the server API lists it. */
export interface DaemonSummary {
  daemonId: string;
  status: DaemonStatus;
  /** The instance holding its connection; null while offline. */
  instance: string | null;
  connectedAt: string | null;
  lastHeartbeat: string | null;
  workspaceIds: string[];
  stream: StreamPosition;
  viewers: { connections: number; users: number };
}

export interface DaemonDetails extends DaemonSummary {
  workspaceStatuses: Record<string, string>;
}

export interface DaemonListQuery {
  status?: DaemonStatus;
  /** Only ids starting with this. */
  prefix?: string;
  /** The last id of the previous page. */
  after?: string;
  limit: number;
}

/** How often a batch of known daemons is checked for ones long gone. */
const PRUNE_EVERY_MS = 30_000;

/** Ids looked at per request at most when a status filter leaves pages thin. */
const SCAN_FACTOR = 10;

/**
 * The deployment's daemons as the server API and the console see them: presence, stream head,
 * workspaces and viewers, the same answer on every instance.
 */
@Injectable()
export class DaemonInspector implements OnModuleInit, OnModuleDestroy {
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly broker: DaemonBroker,
    private readonly directory: DaemonDirectory,
    private readonly streams: EventStreams,
    private readonly workspaces: WorkspacesService,
    private readonly instances: InstanceRegistry,
    private readonly daemons: DaemonService,
  ) {}

  onModuleInit(): void {
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.pruneTimer);
  }

  /** Forgets known daemons with neither presence nor history: a batch at a time. */
  async prune(): Promise<number> {
    try {
      return await this.directory.prune((daemonIds) =>
        Promise.all(daemonIds.map(async (daemonId) => !(await this.broker.getPresence(daemonId)) && !(await this.streams.hasHistory(daemonId)))),
      );
    } catch {
      return 0; // Shared state away: the next round tries again.
    }
  }

  /** A page of daemons in id order; `nextCursor` is null on the last page. */
  async list(query: DaemonListQuery): Promise<{ items: DaemonSummary[]; nextCursor: string | null }> {
    const live = await this.liveInstances();
    const items: DaemonSummary[] = [];
    let after = query.after;
    let scanned = 0;
    for (;;) {
      const page = await this.directory.page({ after, prefix: query.prefix, limit: query.limit - items.length });
      scanned += page.ids.length;
      const summaries = await Promise.all(page.ids.map((daemonId) => this.summary(daemonId, live)));
      items.push(...summaries.filter((summary) => query.status === undefined || summary.status === query.status));
      if (page.last === null) return { items, nextCursor: null };
      after = page.last;
      // A filter that matches few: answer with what was found so far, and where to go on from.
      if (items.length >= query.limit || scanned >= query.limit * SCAN_FACTOR) return { items, nextCursor: after };
    }
  }

  /** One daemon with its workspace statuses; undefined when the deployment never saw it. */
  async describe(daemonId: string): Promise<DaemonDetails | undefined> {
    if (!(await this.isKnown(daemonId))) return undefined;
    const live = await this.liveInstances();
    const [summary, workspaceStatuses] = await Promise.all([this.summary(daemonId, live), this.workspaces.statuses(daemonId)]);
    return { ...summary, workspaceIds: Object.keys(workspaceStatuses), workspaceStatuses };
  }

  /** Users watching the daemon, on every instance; undefined when the daemon is unknown. */
  async viewers(daemonId: string): Promise<ViewerCount[] | undefined> {
    if (!(await this.isKnown(daemonId))) return undefined;
    return this.directory.viewers(daemonId, await this.liveInstances());
  }

  /** The last `limit` events of its stream still retained, oldest first, and where history begins. */
  async recentEvents(daemonId: string, limit: number): Promise<{ stream: StreamPosition; historyStart: number; events: unknown[] } | undefined> {
    if (!(await this.isKnown(daemonId))) return undefined;
    const { position, historyStart, frames } = await this.streams.recent(daemonId, limit);
    return { stream: position, historyStart, events: frames.map((frame) => JSON.parse(frame.text) as unknown) };
  }

  /**
   * Resolves with the daemon's first `task-status` for `taskId` from now on, or undefined after
   * `timeoutMs`. Watching starts before the caller sends the command, so no answer is missed.
   */
  async watchTask(daemonId: string, taskId: string, timeoutMs: number): Promise<{ status: Promise<TaskStatusPayload | undefined>; stop: () => void }> {
    let settle: (status: TaskStatusPayload | undefined) => void = () => {};
    const status = new Promise<TaskStatusPayload | undefined>((resolve) => (settle = resolve));
    const link: PeerLink = {
      id: `api-${randomUUID()}`,
      send: (frame: Frame | EventFrame) => {
        if (!(frame instanceof EventFrame) || frame.type !== DaemonMessageType.TaskStatus) return;
        const payload = (JSON.parse(frame.text) as { payload: TaskStatusPayload }).payload;
        if (payload.taskId === taskId) settle(payload);
      },
      close: () => settle(undefined),
    };
    await this.daemons.connectClient(daemonId, link);
    const timer = setTimeout(() => settle(undefined), timeoutMs);
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      settle(undefined);
      void this.daemons.disconnectClient(daemonId, link).catch(() => undefined);
    };
    void status.then(stop);
    return { status, stop };
  }

  /** How many daemons the deployment knows. */
  known(): Promise<number> {
    return this.directory.size();
  }

  private async isKnown(daemonId: string): Promise<boolean> {
    return (await this.directory.has(daemonId)) || (await this.broker.getPresence(daemonId)) !== undefined;
  }

  private async liveInstances(): Promise<Set<string>> {
    return new Set((await this.instances.live()).map((record) => record.instanceId));
  }

  private async summary(daemonId: string, live: ReadonlySet<string>): Promise<DaemonSummary> {
    const [presence, stream, workspaceIds, viewers] = await Promise.all([
      this.broker.getPresence(daemonId),
      this.streams.position(daemonId),
      this.workspaces.listWorkspaces(daemonId),
      this.directory.viewers(daemonId, live),
    ]);
    return {
      daemonId,
      status: presence?.status ?? DaemonStatus.Offline,
      instance: presence?.instance ?? null,
      connectedAt: presence ? new Date(presence.connectedAt).toISOString() : null,
      lastHeartbeat: presence?.lastHeartbeat ? new Date(presence.lastHeartbeat).toISOString() : null,
      workspaceIds,
      stream,
      viewers: { connections: viewers.reduce((total, viewer) => total + viewer.connections, 0), users: viewers.length },
    };
  }
}
