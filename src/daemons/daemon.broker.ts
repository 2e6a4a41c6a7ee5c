import type { CommandStatus, Frame, StreamPosition } from '@arbor/gateway-client/protocol';
import type { EventFrame } from './streams/event-frame.js';
import type { DaemonPresence } from './presence/daemon-presence.js';
import type { PeerLink } from './peer-link.js';

export type PresencePatch = Partial<Pick<DaemonPresence, 'status' | 'lastHeartbeat'>>;

/** A command's arrival at the instance holding its daemon: its place in the daemon's order, and the frame. */
export interface CommandNudge {
  seq: number;
  frame: Frame;
}

/** What became of a command, for the instance whose connection sent it. */
export interface CommandStatusMessage {
  daemonId: string;
  id: string;
  status: CommandStatus;
}

export interface AttachResult {
  presence: DaemonPresence;
  /** The daemon's previous connection, now superseded; the caller closes it with 4409. */
  replaced?: PeerLink;
}

/**
 * Presence and routing for daemons and the clients watching them. The in-memory broker serves a
 * single instance; the Redis broker (scale-out) implements the same contract across instances.
 */
export abstract class DaemonBroker {
  /** This instance, as presence names it. */
  abstract readonly instanceId: string;
  /** Makes `link` the daemon's current connection. */
  abstract attachDaemon(daemonId: string, link: PeerLink, now: number): Promise<AttachResult>;
  /**
   * Removes the daemon if `link` is still its current connection; false when it was replaced.
   * With `handover`, shared presence is left to expire instead of being removed.
   */
  abstract detachDaemon(daemonId: string, link: PeerLink, handover?: boolean): Promise<boolean>;
  /** True when other instances share this state (they outlive this one). */
  abstract readonly isShared: boolean;
  abstract getPresence(daemonId: string): Promise<DaemonPresence | undefined>;
  /** The instance holding the daemon's connection, or undefined when none does (what routing a command needs, and no more). */
  abstract holderOf(daemonId: string): Promise<string | undefined>;
  /** Updates a connected daemon's presence; undefined when it is not connected. */
  abstract updatePresence(daemonId: string, patch: PresencePatch): Promise<DaemonPresence | undefined>;
  /** Daemons connected to this instance, for the heartbeat sweep. */
  abstract localDaemons(): Iterable<DaemonPresence>;
  /** The daemon's link if it is connected to this instance. */
  abstract localDaemonLink(daemonId: string): PeerLink | undefined;

  abstract watch(daemonId: string, link: PeerLink): Promise<void>;
  /** Returns the number of watchers left for the daemon. */
  abstract unwatch(daemonId: string, link: PeerLink): Promise<number>;
  /** Whether clients on this instance watch the daemon. */
  abstract isWatchedLocally(daemonId: string): boolean;
  /** Daemons that clients on this instance watch. */
  abstract localWatchedDaemonIds(): Iterable<string>;

  /**
   * Delivers a recorded event of this instance's own to the daemon's watchers here. (The stream
   * that recorded it carries it to other instances.) Calls are made in stream order.
   */
  abstract deliverEvent(frame: EventFrame): void;
  /** A frame to the daemon's watchers on this instance only. */
  abstract deliverLocally(daemonId: string, frame: Frame | EventFrame): void;
  /** A watcher was admitted at `position`: what this instance delivers next continues from it. */
  abstract admitted(daemonId: string, position: StreamPosition): void;
  /**
   * What was delivered here past `position` was never recorded: the watchers here are told to
   * resync at `position`, and what this instance delivers next continues from it.
   */
  abstract retract(daemonId: string, position: StreamPosition): void;
  /**
   * Registers the listener told when a daemon watched here vanished without a goodbye (its
   * instance died). Only shared brokers ever call it.
   */
  abstract onDaemonLost(listener: (daemonId: string, lastHeartbeat: number | null) => void): void;
  /**
   * Tells `instance` (the daemon's holder, as presence names it) that a command was recorded for
   * the daemon; it hands it to its `onCommand` listener. Nothing is lost when the holder has just
   * left: the command waits in the inbox for the daemon's next connection.
   */
  abstract routeCommand(daemonId: string, instance: string, nudge: CommandNudge): Promise<void>;
  abstract onCommand(listener: (daemonId: string, nudge: CommandNudge) => void): void;
  /** Tells `instance` what became of a command one of its connections sent; it hands it to its `onCommandStatus` listener. */
  abstract sendCommandStatus(instance: string, message: CommandStatusMessage): Promise<void>;
  abstract onCommandStatus(listener: (message: CommandStatusMessage) => void): void;
}
