import { Injectable } from '@nestjs/common';
import { DaemonStatus, ServerMessageType, type Frame, type ResyncRequiredPayload, type StreamPosition } from '@arbor/gateway-client/protocol';
import { INSTANCE_ID } from '../config/instance-id.js';
import { Attr, messagingSpan, SpanKind, tracing } from '../tracing/tracing.js';
import { EventFrame } from './streams/event-frame.js';
import { DaemonBroker, type AttachResult, type CommandNudge, type CommandStatusMessage, type PresencePatch } from './daemon.broker.js';
import type { DaemonPresence } from './presence/daemon-presence.js';
import type { PeerLink } from './peer-link.js';

export interface DaemonEntry {
  presence: DaemonPresence;
  link: PeerLink;
}

function deliverySpan(frame: EventFrame, viewers: number, instanceId: string) {
  return messagingSpan(
    'send',
    frame.type,
    SpanKind.PRODUCER,
    {
      [Attr.Destination]: 'viewers',
      [Attr.DaemonId]: frame.daemonId,
      [Attr.Seq]: frame.seq,
      [Attr.Viewers]: viewers,
      [Attr.BatchCount]: viewers,
      [Attr.Instance]: instanceId,
    },
    frame.traceContext,
  );
}

/** Single-instance broker. Presence is handed out as copies, as a shared store would. */
@Injectable()
export class InMemoryDaemonBroker extends DaemonBroker {
  readonly isShared: boolean = false;
  private readonly daemons = new Map<string, DaemonEntry>();
  private readonly watchers = new Map<string, Set<PeerLink>>();
  private commandListener: ((daemonId: string, nudge: CommandNudge) => void) | undefined;
  private statusListener: ((message: CommandStatusMessage) => void) | undefined;

  /** `instanceId`: what presence names as the holder (the process, or its Redis instance id). */
  constructor(readonly instanceId: string = INSTANCE_ID) {
    super();
  }

  async attachDaemon(daemonId: string, link: PeerLink, now: number): Promise<AttachResult> {
    const previous = this.daemons.get(daemonId);
    const presence: DaemonPresence = { daemonId, status: DaemonStatus.Online, lastHeartbeat: null, connectedAt: now, instance: this.instanceId };
    this.daemons.set(daemonId, { presence, link });
    return { presence: { ...presence }, replaced: previous && previous.link !== link ? previous.link : undefined };
  }

  async detachDaemon(daemonId: string, link: PeerLink): Promise<boolean> {
    if (this.daemons.get(daemonId)?.link !== link) return false;
    this.daemons.delete(daemonId);
    return true;
  }

  async getPresence(daemonId: string): Promise<DaemonPresence | undefined> {
    const entry = this.daemons.get(daemonId);
    return entry && { ...entry.presence };
  }

  async holderOf(daemonId: string): Promise<string | undefined> {
    return this.daemons.has(daemonId) ? this.instanceId : undefined;
  }

  async updatePresence(daemonId: string, patch: PresencePatch): Promise<DaemonPresence | undefined> {
    const entry = this.daemons.get(daemonId);
    if (!entry) return undefined;
    Object.assign(entry.presence, patch);
    return { ...entry.presence };
  }

  *localDaemons(): Iterable<DaemonPresence> {
    for (const entry of this.daemons.values()) yield { ...entry.presence };
  }

  /** The daemon's presence here and its connection, as they are (not copies). */
  entry(daemonId: string): DaemonEntry | undefined {
    return this.daemons.get(daemonId);
  }

  entries(): Iterable<DaemonEntry> {
    return this.daemons.values();
  }

  get size(): number {
    return this.daemons.size;
  }

  /** Forgets the daemon without a goodbye: it lives on elsewhere. */
  forget(daemonId: string): void {
    this.daemons.delete(daemonId);
  }

  localDaemonLink(daemonId: string): PeerLink | undefined {
    return this.daemons.get(daemonId)?.link;
  }

  async watch(daemonId: string, link: PeerLink): Promise<void> {
    let set = this.watchers.get(daemonId);
    if (!set) this.watchers.set(daemonId, (set = new Set()));
    set.add(link);
  }

  async unwatch(daemonId: string, link: PeerLink): Promise<number> {
    const set = this.watchers.get(daemonId);
    if (!set) return 0;
    set.delete(link);
    if (set.size === 0) this.watchers.delete(daemonId);
    return set.size;
  }

  isWatchedLocally(daemonId: string): boolean {
    return this.watchers.has(daemonId);
  }

  localWatchedDaemonIds(): Iterable<string> {
    return this.watchers.keys();
  }

  /** One instance records and delivers in one step, in order: nothing to sequence. */
  deliverEvent(frame: EventFrame): void {
    this.deliverLocally(frame.daemonId, frame);
  }

  admitted(_daemonId: string, _position: StreamPosition): void {}

  /** One instance's streams never retract (they are never unrecorded); told anyway, the watchers resync. */
  retract(daemonId: string, position: StreamPosition): void {
    const payload: ResyncRequiredPayload = { reason: 'history_expired', stream: position };
    this.deliverLocally(daemonId, { type: ServerMessageType.ResyncRequired, daemonId, payload });
  }

  deliverLocally(daemonId: string, frame: Frame | EventFrame): void {
    const set = this.watchers.get(daemonId);
    if (!set) return;
    // One span per event and instance, with the viewer count: not one per delivery.
    const span = tracing.on && frame instanceof EventFrame ? deliverySpan(frame, set.size, this.instanceId) : undefined;
    for (const link of set) link.send(frame);
    span?.end();
    // The encoded bytes served this delivery; the history keeps the frame, not them.
    if (frame instanceof EventFrame) frame.wire = undefined;
  }

  onDaemonLost(_listener: (daemonId: string, lastHeartbeat: number | null) => void): void {
    // A single instance sees every goodbye itself.
  }

  /** One instance holds every daemon: the command goes straight to this instance's listener. */
  async routeCommand(daemonId: string, _instance: string, nudge: CommandNudge): Promise<void> {
    this.commandListener?.(daemonId, nudge);
  }

  onCommand(listener: (daemonId: string, nudge: CommandNudge) => void): void {
    this.commandListener = listener;
  }

  async sendCommandStatus(_instance: string, message: CommandStatusMessage): Promise<void> {
    this.statusListener?.(message);
  }

  onCommandStatus(listener: (message: CommandStatusMessage) => void): void {
    this.statusListener = listener;
  }
}
