import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { GatewayConfig } from '../config/gateway-config.js';
import { disableTracing, enableTracing, tracing } from './tracing.js';

let provider: NodeTracerProvider | undefined;

/**
 * Starts the OpenTelemetry SDK when the configuration asks for it (an OTLP endpoint, or
 * OTEL_TRACES_EXPORTER): spans are batched and exported over OTLP/HTTP (or printed). Tests pass
 * their own exporter. Idempotent: several apps in one process share the provider. The SDK is
 * loaded only then: a gateway without tracing does not carry it in memory.
 */
export async function startTracing(config: GatewayConfig, exporter?: SpanExporter): Promise<void> {
  tracing.acceptClientContext = config.traceAcceptClientContext;
  if (!config.tracing && !exporter) return;
  if (!provider) {
    const [{ propagation }, { W3CTraceContextPropagator }, { resourceFromAttributes }, base, { NodeTracerProvider }, conventions] = await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/core'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/semantic-conventions'),
    ]);
    const spanExporter =
      exporter ??
      (config.tracing!.exporter === 'console'
        ? new base.ConsoleSpanExporter()
        : new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url: config.tracing!.url }));
    provider = new NodeTracerProvider({
      resource: resourceFromAttributes({
        [conventions.ATTR_SERVICE_NAME]: config.tracing?.serviceName ?? 'arbor-gateway',
        [conventions.ATTR_SERVICE_VERSION]: '0.1.0',
      }),
      spanProcessors: [exporter ? new base.SimpleSpanProcessor(spanExporter) : new base.BatchSpanProcessor(spanExporter)],
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
