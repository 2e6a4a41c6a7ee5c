import { ConnectionClosedError } from './errors.js';
import { AckStatus, CommandStatus, ServerMessageType, type AckPayload, type CommandStatusPayload, type Frame } from './protocol.js';

interface Waiting {
  frame: Frame;
  resolve: (status: CommandStatus) => void;
  reject: (error: Error) => void;
}

/**
 * Accepted commands waiting for their `command-status` (delivered or expired). After a reconnect
 * each is sent again with its id: the gateway answers `duplicate` with the command's state (final
 * ones settle here) and sends the status of one still waiting to the new connection.
 */
export class CommandStatuses {
  private readonly waiting = new Map<string, Waiting>();

  /** The command's outcome once known: at once for a duplicate whose fate is settled, later otherwise. */
  track(frame: Frame, ack: AckPayload): Promise<CommandStatus> {
    const final = ack.status === AckStatus.Duplicate ? finalOutcome(ack) : undefined;
    if (final) return Promise.resolve(final);
    const known = this.waiting.get(frame.id!);
    if (known) return new Promise((resolve, reject) => this.chain(known, resolve, reject));
    return new Promise((resolve, reject) => this.waiting.set(frame.id!, { frame, resolve, reject }));
  }

  /** Consumes a `command-status`, or the answer to a command sent again; false for any other frame. */
  settle(frame: Frame): boolean {
    if (frame.id === undefined) return false;
    const waiting = this.waiting.get(frame.id);
    if (!waiting) return false;
    if (frame.type === ServerMessageType.CommandStatus) return this.finish(frame.id, waiting, (frame.payload as CommandStatusPayload).status);
    if (frame.type !== ServerMessageType.Ack) return false;
    const final = finalOutcome(frame.payload as AckPayload);
    if (final) this.finish(frame.id, waiting, final);
    return true;
  }

  /** Commands still waiting, oldest first, to send again on a new connection. */
  frames(): Frame[] {
    return [...this.waiting.values()].map((waiting) => waiting.frame);
  }

  rejectAll(): void {
    for (const [id, waiting] of this.waiting) {
      this.waiting.delete(id);
      waiting.reject(new ConnectionClosedError(waiting.frame.type));
    }
  }

  private finish(id: string, waiting: Waiting, status: CommandStatus): true {
    this.waiting.delete(id);
    waiting.resolve(status);
    return true;
  }

  private chain(known: Waiting, resolve: (status: CommandStatus) => void, reject: (error: Error) => void): void {
    const [first, firstReject] = [known.resolve, known.reject];
    known.resolve = (status) => (first(status), resolve(status));
    known.reject = (error) => (firstReject(error), reject(error));
  }
}

function finalOutcome(ack: AckPayload): CommandStatus | undefined {
  return ack.outcome === CommandStatus.Delivered || ack.outcome === CommandStatus.Expired ? ack.outcome : undefined;
}
