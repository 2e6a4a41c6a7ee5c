import { propagation, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Context, type Link, type Span, type Tracer } from '@opentelemetry/api';
import type { TraceContext } from '@arbor/gateway-client/protocol';

/**
 * The gateway's spans. Off unless the composition root turned tracing on (`enableTracing`): then
 * `tracing.on` is false and every helper returns at once — the hot paths test one boolean.
 */
export const tracing = {
  on: false,
  /** Trust a browser's trace context as parent (TRACE_ACCEPT_CLIENT_CONTEXT). */
  acceptClientContext: false,
  tracer: undefined as Tracer | undefined,
};

/** Attribute names: the messaging semantic conventions, and ours under `arbor.`. */
export const Attr = {
  System: 'messaging.system',
  Operation: 'messaging.operation.type',
  OperationName: 'messaging.operation.name',
  Destination: 'messaging.destination.name',
  MessageId: 'messaging.message.id',
  BatchCount: 'messaging.batch.message_count',
  DaemonId: 'arbor.daemon.id',
  Instance: 'arbor.instance',
  TargetInstance: 'arbor.target_instance',
  Role: 'arbor.role',
  Outcome: 'arbor.outcome',
  Viewers: 'arbor.viewers',
  TaskId: 'arbor.task.id',
  Seq: 'arbor.stream.seq',
} as const;

export const MESSAGING_SYSTEM = 'arbor';

export function enableTracing(tracer: Tracer): void {
  tracing.on = true;
  tracing.tracer = tracer;
}

export function disableTracing(): void {
  tracing.on = false;
  tracing.tracer = undefined;
}

/** The context a frame's `tc` names (W3C propagation), or undefined. */
export function contextOf(tc: TraceContext | undefined): Context | undefined {
  if (!tc) return undefined;
  const extracted = propagation.extract(ROOT_CONTEXT, tc);
  return trace.getSpanContext(extracted) ? extracted : undefined;
}

/** The `tc` to put on a frame so its receiver continues `span`'s trace. */
export function traceContextOf(span: Span): TraceContext {
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
  return carrier.tracestate ? { traceparent: carrier.traceparent, tracestate: carrier.tracestate } : { traceparent: carrier.traceparent };
}

/**
 * Starts a span continuing `tc` (as its parent when `trusted`, else as a link from a new trace),
 * or undefined while tracing is off.
 */
export function startSpan(name: string, kind: SpanKind, attributes: Attributes, tc?: TraceContext, trusted = true): Span | undefined {
  if (!tracing.on || !tracing.tracer) return undefined;
  const remote = contextOf(tc);
  const links: Link[] = [];
  let parent: Context = ROOT_CONTEXT;
  if (remote && trusted) parent = remote;
  else if (remote) links.push({ context: trace.getSpanContext(remote)! });
  return tracing.tracer.startSpan(name, { kind, attributes: { [Attr.System]: MESSAGING_SYSTEM, ...attributes }, links }, parent);
}

/**
 * A messaging span, `<operation> <message type>` (`process run-task`, `send task-status`), with the
 * operation attributes set: the shape of every span but the handshake's.
 */
export function messagingSpan(
  operation: 'process' | 'send',
  type: string,
  kind: SpanKind,
  attributes: Attributes,
  tc?: TraceContext,
  trusted = true,
): Span | undefined {
  if (!tracing.on) return undefined;
  return startSpan(`${operation} ${type}`, kind, { [Attr.Operation]: operation, [Attr.OperationName]: type, ...attributes }, tc, trusted);
}

/** The active span's trace id, for a histogram exemplar; undefined while tracing is off. */
export function exemplarOf(span: Span | undefined): Record<string, string> | undefined {
  const spanContext = span?.spanContext();
  return spanContext && spanContext.traceFlags & 1 ? { trace_id: spanContext.traceId } : undefined;
}

export { SpanKind };
