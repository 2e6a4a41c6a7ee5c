import { AckStatus, type CommandStatus, type Frame } from '@arbor/gateway-client/protocol';

/** A command accepted for a daemon and not yet confirmed by it. */
export interface PendingCommand {
  /** The id the daemon sees and confirms: the client's command id, or one the gateway assigned. */
  id: string;
  /** Order of acceptance for this daemon: the holder sends commands in this order. */
  seq: number;
  userId: string;
  /** As the daemon receives it, `id` included. */
  frame: Frame;
  /** The instance whose client (or API call) sent it: told `delivered` or `expired`. */
  senderInstance?: string;
  expiresAt: number;
}

export interface NewCommand {
  id: string;
  userId: string;
  frame: Frame;
  senderInstance?: string;
}

export type AcceptResult =
  | { kind: 'accepted'; command: PendingCommand }
  /** This user sent this id before: its state now. */
  | { kind: 'duplicate'; outcome: AckStatus.Accepted | CommandStatus }
  /**
   * Another user sent a command with this id to this daemon within COMMAND_DEDUPE_TTL_MS. The
   * daemon knows commands by id alone, so a second one would be taken for a repeat.
   */
  | { kind: 'conflict' };

export interface PendingCommands {
  /** Unexpired, in order of acceptance. */
  commands: PendingCommand[];
  /** The last seq given out for the daemon: what the holder has seen once it sent these. */
  lastSeq: number;
}

/**
 * Each daemon's commands from acceptance until the daemon confirms them (`command-ack`) or
 * COMMAND_TTL_MS passes, and each command id's owner and state for COMMAND_DEDUPE_TTL_MS. Accepting
 * claims the id and records the command in one step, so an `accepted` command is always there to
 * be sent again, on any instance. A command leaves the inbox exactly once: confirmed or expired,
 * whichever comes first, and whoever takes it out tells its sender.
 */
export abstract class CommandInbox {
  abstract accept(daemonId: string, command: NewCommand, now: number): Promise<AcceptResult>;
  /** The daemon's unexpired commands, oldest first. */
  abstract pending(daemonId: string, now: number): Promise<PendingCommands>;
  /**
   * Takes the command out as delivered, if it is still waiting and `holder` is the daemon's
   * current connection (a superseded connection's confirmation does not count: the command goes
   * to the current one again). Undefined when nothing was taken out.
   */
  abstract confirm(daemonId: string, id: string, holder: string): Promise<PendingCommand | undefined>;
  /** Takes the command out as expired, if it is still waiting and its time is up. */
  abstract expire(daemonId: string, id: string, now: number): Promise<PendingCommand | undefined>;
  /** The id's state as remembered for resends (COMMAND_DEDUPE_TTL_MS): how a sender learns an outcome whose status was lost. */
  abstract outcome(daemonId: string, id: string): Promise<CommandOutcome | undefined>;
  /** A resend of a waiting command from another connection: its status now goes to `senderInstance`. */
  abstract redirect(daemonId: string, userId: string, id: string, senderInstance: string): Promise<void>;
}

/** The state a (user, command id) pair is remembered with. */
export type CommandOutcome = AckStatus.Accepted | CommandStatus;

export function duplicateOf(outcome: string | undefined): AcceptResult | undefined {
  return outcome === undefined ? undefined : { kind: 'duplicate', outcome: outcome as CommandOutcome };
}

export const ACCEPTED: CommandOutcome = AckStatus.Accepted;

/**
 * The first seq of a daemon's numbering: time-based, so a numbering that started again (its
 * record expired while the daemon stayed connected) is always above anything handed out before.
 */
export function firstSeq(now: number): number {
  return now * 1000;
}
