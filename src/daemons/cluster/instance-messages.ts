import { CommandStatus, type Frame } from '@arbor/gateway-client/protocol';
import { EventFrame, typeOfCode } from '../streams/event-frame.js';

/**
 * What instances say to each other through Redis, one tagged union with one codec. On an
 * instance's own channel (JSON): a daemon's connection there was replaced elsewhere; a command
 * recorded for a daemon it holds; what became of a command one of its connections sent; its own
 * pub/sub probe. On a daemon's events channel: a batch of recorded events (see `decodeEventBatch`).
 */
export type InstanceMessage =
  | { t: 'replaced'; d: string; c: string }
  | { t: 'command'; d: string; s: number; f: Frame }
  | { t: 'command-status'; d: string; i: string; s: CommandStatus }
  | { t: 'probe'; at: number };

export function encodeInstanceMessage(message: InstanceMessage): string {
  return JSON.stringify(message);
}

const COMMAND_STATUSES = new Set<string>(Object.values(CommandStatus));

/** The message, or undefined for anything that is not one (an instance never trusts its channel's input blindly). */
export function decodeInstanceMessage(text: string): InstanceMessage | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const isText = (key: string) => typeof value[key] === 'string';
  switch (value.t) {
    case 'replaced':
      return isText('d') && isText('c') ? (value as InstanceMessage) : undefined;
    case 'command':
      return isText('d') && Number.isSafeInteger(value.s) && typeof value.f === 'object' && value.f !== null ? (value as InstanceMessage) : undefined;
    case 'command-status':
      return isText('d') && isText('i') && COMMAND_STATUSES.has(value.s as string) ? (value as InstanceMessage) : undefined;
    case 'probe':
      return typeof value.at === 'number' ? (value as InstanceMessage) : undefined;
    default:
      return undefined;
  }
}

/**
 * A recorded batch as the append script publishes it: `{instance}|{epoch}|{first seq}|{type
 * codes}|{frame}\n{frame}…`. Not JSON: the frames are forwarded as the text they were recorded
 * as, never parsed or escaped again (JSON holds no raw newline, so the split is exact).
 */
export interface EventBatch {
  publisher: string;
  frames: EventFrame[];
}

export function decodeEventBatch(daemonId: string, message: string): EventBatch | undefined {
  const [tagEnd, epochEnd, seqEnd, codesEnd] = separators(message, 4);
  if (codesEnd < 0) return undefined;
  const epoch = message.slice(tagEnd + 1, epochEnd);
  const first = Number(message.slice(epochEnd + 1, seqEnd));
  if (!Number.isSafeInteger(first)) return undefined;
  const codes = message.slice(seqEnd + 1, codesEnd);
  const frames: EventFrame[] = [];
  message
    .slice(codesEnd + 1)
    .split('\n')
    .forEach((text, index) => {
      const type = typeOfCode(codes[index]);
      if (type) frames.push(new EventFrame(type, daemonId, epoch, first + index, text));
    });
  return { publisher: message.slice(0, tagEnd), frames };
}

/** The positions of the first `count` '|' in `text` (-1 for those missing). */
function separators(text: string, count: number): number[] {
  const positions: number[] = [];
  let from = 0;
  for (let i = 0; i < count; i += 1) {
    const at = from < 0 ? -1 : text.indexOf('|', from);
    positions.push(at);
    from = at < 0 ? -1 : at + 1;
  }
  return positions;
}
