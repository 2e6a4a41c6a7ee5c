import { propagation } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { GatewayConfig } from '../config/gateway-config.js';
import { disableTracing, enableTracing, tracing } from './tracing.js';

let provider: NodeTracerProvider | undefined;

/**
 * Starts the OpenTelemetry SDK when the configuration asks for it (an OTLP endpoint, or
 * OTEL_TRACES_EXPORTER): spans are batched and exported over OTLP/HTTP (or printed). Tests pass
 * their own exporter. Idempotent: several apps in one process share the provider.
 */
export function startTracing(config: GatewayConfig, exporter?: SpanExporter): void {
  tracing.acceptClientContext = config.traceAcceptClientContext;
  if (!config.tracing && !exporter) return;
  if (!provider) {
    const spanExporter = exporter ?? (config.tracing!.exporter === 'console' ? new ConsoleSpanExporter() : new OTLPTraceExporter({ url: config.tracing!.url }));
    provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.tracing?.serviceName ?? 'arbor-gateway', [ATTR_SERVICE_VERSION]: '0.1.0' }),
      spanProcessors: [exporter ? new SimpleSpanProcessor(spanExporter) : new BatchSpanProcessor(spanExporter)],
    });
    provider.register({ propagator: new W3CTraceContextPropagator() });
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }
  enableTracing(provider.getTracer('arbor-gateway'));
}

/** Flushes what is left and stops (on shutdown). */
export async function stopTracing(): Promise<void> {
  const current = provider;
  provider = undefined;
  disableTracing();
  await current?.shutdown();
}
