import { DaemonMessageType, ServerMessageType, type DaemonEventType, type TraceContext } from '@arbor/gateway-client/protocol';

/** What a daemon's stream carries: its events, and the daemon's status changes. */
export type StreamEventType = DaemonEventType | ServerMessageType.DaemonStatus;

/**
 * One event of a daemon's stream, serialized once: the text every client receives, with the fields
 * the gateway routes, sequences and counts by — never read back from the text.
 */
export class EventFrame {
  /**
   * The WebSocket text frame of `text`, for one delivery: encoded by the first recipient, shared by
   * the others, dropped by the broker afterwards (the history keeps frames, not their bytes).
   */
  wire: Buffer | undefined;

  constructor(
    readonly type: StreamEventType,
    readonly daemonId: string,
    readonly epoch: string,
    readonly seq: number,
    readonly text: string,
  ) {}

  static of(type: StreamEventType, daemonId: string, epoch: string, seq: number, payload: unknown, tc?: TraceContext): EventFrame {
    const frame = new EventFrame(
      type,
      daemonId,
      epoch,
      seq,
      JSON.stringify(tc ? { type, daemonId, epoch, seq, payload, tc } : { type, daemonId, epoch, seq, payload }),
    );
    frame.knownTraceContext = tc ?? null;
    return frame;
  }

  /** Its `tc`, if it carries one (read from the text once, when a span needs it). */
  get traceContext(): TraceContext | undefined {
    if (this.knownTraceContext === undefined) {
      this.knownTraceContext = this.text.includes('"tc":') ? ((JSON.parse(this.text) as { tc?: TraceContext }).tc ?? null) : null;
    }
    return this.knownTraceContext ?? undefined;
  }

  /** undefined: not looked at yet; null: none. */
  private knownTraceContext: TraceContext | null | undefined;

  /** A `file-change`'s `(workspaceId, path)` as one string (read from the text once, for viewers that coalesce by path). */
  get fileChangeKey(): string {
    if (this.knownFileChangeKey === undefined) {
      const { payload } = JSON.parse(this.text) as { payload?: { workspaceId?: string; path?: string } };
      this.knownFileChangeKey = `${payload?.workspaceId ?? ''}\u0000${payload?.path ?? ''}`;
    }
    return this.knownFileChangeKey;
  }

  private knownFileChangeKey: string | undefined;
}

/** One character per type, for the Redis stream and the pub/sub batch header. */
const CODES: Record<StreamEventType, string> = {
  [DaemonMessageType.FileChange]: 'f',
  [DaemonMessageType.TaskStatus]: 't',
  [DaemonMessageType.WorkspaceUpdate]: 'w',
  [ServerMessageType.DaemonStatus]: 's',
};
const TYPES = new Map(Object.entries(CODES).map(([type, code]) => [code, type as StreamEventType]));

export function typeCode(type: StreamEventType): string {
  return CODES[type];
}

export function typeOfCode(code: string): StreamEventType | undefined {
  return TYPES.get(code);
}
