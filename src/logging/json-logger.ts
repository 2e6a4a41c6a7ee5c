import { LoggerService } from '@nestjs/common';
import { LogFormat, LogLevel } from '../config/environment.js';
import { redact } from './redact.js';

const SEVERITY: Record<LogLevel, number> = {
  [LogLevel.Debug]: 10,
  [LogLevel.Info]: 20,
  [LogLevel.Warn]: 30,
  [LogLevel.Error]: 40,
  [LogLevel.Silent]: 100,
};

type Write = (line: string) => void;

/**
 * Nest's start-up narration (each module initialised, each route and message handler mapped):
 * about thirty lines per boot that say nothing an operator acts on, so they log at debug.
 */
const FRAMEWORK_NARRATION = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'WebSocketsController', 'NestApplication']);

/**
 * One JSON object per line. Every line passes through `redact`, so a token that slips into a
 * message or an error never reaches the log.
 */
export class JsonLogger implements LoggerService {
  private readonly threshold: number;

  constructor(
    level: LogLevel,
    private readonly write: Write = (line) => process.stdout.write(line),
    private readonly format: LogFormat = LogFormat.Json,
  ) {
    this.threshold = SEVERITY[level];
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.emit(LogLevel.Info, message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.emit(LogLevel.Error, message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.emit(LogLevel.Warn, message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.emit(LogLevel.Debug, message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.emit(LogLevel.Debug, message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.emit(LogLevel.Error, message, rest);
  }

  private emit(requested: LogLevel, message: unknown, rest: unknown[]): void {
    // Nest passes the logger context as the last string argument.
    const args = [...rest];
    const context = typeof args[args.length - 1] === 'string' ? (args.pop() as string) : undefined;
    const level = requested === LogLevel.Info && context !== undefined && FRAMEWORK_NARRATION.has(context) ? LogLevel.Debug : requested;
    if (SEVERITY[level] < this.threshold) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, context };
    if (message instanceof Error) {
      entry.msg = message.message;
      entry.err = { name: message.name, stack: message.stack };
    } else if (message !== null && typeof message === 'object') {
      Object.assign(entry, message);
    } else {
      entry.msg = String(message);
    }
    for (const extra of args) {
      if (typeof extra === 'string') entry.stack = extra;
      else if (extra instanceof Error) entry.err = { name: extra.name, message: extra.message, stack: extra.stack };
      else if (extra !== undefined) entry.detail = extra;
    }
    this.write(redact(this.format === LogFormat.Pretty ? pretty(entry) : safeStringify(entry)) + '\n');
  }
}

/** `12:00:00.000 INFO  [Context] message key=value …`, for a developer's terminal. */
function pretty(entry: Record<string, unknown>): string {
  const { time, level, context, msg, ...rest } = entry;
  const fields = Object.entries(rest)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : safeStringify(value as Record<string, unknown>)}`);
  const clock = String(time).slice(11, 23);
  const parts = [
    `${clock} ${String(level).toUpperCase().padEnd(5)}`,
    typeof context === 'string' && context ? `[${context}]` : '',
    typeof msg === 'string' ? msg : msg === undefined ? '' : JSON.stringify(msg),
    ...fields,
  ];
  return parts.filter(Boolean).join(' ');
}

function safeStringify(entry: Record<string, unknown>): string {
  try {
    return JSON.stringify(entry);
  } catch {
    return JSON.stringify({ time: entry.time, level: entry.level, context: entry.context, msg: String(entry.msg) });
  }
}
