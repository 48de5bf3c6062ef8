import {
  type Context,
  context,
  createContextKey,
  isSpanContextValid,
  type Tracer as OtelTracer,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { SpanAttributes, SpanAttributeValue, Tracer, TraceSpan } from '../observability/tracing.js';
import { withSpans } from '../observability/with-spans.js';

/** The API's no-op provider: what the global proxy delegates to until an SDK registers one. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** Where the operation span lives in a context: tier spans below it replace the active span, not it. */
const OPERATION = createContextKey('@strata/core operation span');

class OtelSpan implements TraceSpan {
  constructor(readonly span: Span) {}
  setAttribute(key: string, value: SpanAttributeValue): void {
    this.span.setAttribute(key, value);
  }
  recordError(error: unknown): void {
    const exception = error instanceof Error ? error : String(error);
    this.span.recordException(exception);
    this.span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : exception.toString(),
    });
  }
  end(): void {
    this.span.end();
  }
}

/**
 * A {@link Tracer} over `@opentelemetry/api` only (no SDK here): operation spans (`strata.get`, …)
 * of kind internal, remote calls (`strata.l2.getMany`, `strata.l3.findMany`, …) of kind client,
 * each the active span while it runs so the spans started under it are its children. Parents
 * follow the API's context: register a context manager (the Node SDK registers
 * AsyncLocalStorage's) or tier spans are roots. With no provider registered (and no tracer given)
 * Strata makes no span at all: one comparison per operation.
 * @example
 * import { openTelemetryTracing } from '@strata/core/otel';
 * const strata = new Strata({ l2, l3, schemas, tracing: openTelemetryTracing() });
 */
export function openTelemetryTracing(given?: OtelTracer): Tracer {
  // The global provider is the API's proxy: registering an SDK later sets its delegate, and the
  // tracer taken from it follows. Until then its spans are no-ops, so Strata makes none.
  const provider = trace.getTracerProvider() as TracerProvider & { getDelegate?: () => TracerProvider };
  const tracer = given ?? provider.getTracer('@strata/core');
  const getDelegate = given === undefined ? provider.getDelegate?.bind(provider) : undefined;
  function start<T>(
    name: string,
    kind: SpanKind,
    attributes: SpanAttributes,
    work: (span: TraceSpan) => T,
  ): T {
    const parent = context.active();
    const span = tracer.startSpan(name, { kind, attributes }, parent);
    const handle = new OtelSpan(span);
    // No provider (the API's no-op span, no trace to join): nothing to propagate, so no context.
    if (!span.isRecording() && !isSpanContextValid(span.spanContext())) return work(handle);
    let active: Context = trace.setSpan(parent, span);
    if (kind === SpanKind.INTERNAL) active = active.setValue(OPERATION, handle);
    return context.with(active, work, undefined, handle);
  }
  return withSpans({
    operation: (name, attributes, work) => start(name, SpanKind.INTERNAL, attributes, work),
    call: (name, attributes, work) => start(name, SpanKind.CLIENT, attributes, work),
    currentOperation: () => context.active().getValue(OPERATION) as TraceSpan | undefined,
    // A tracer given explicitly is taken to record.
    ...(getDelegate && { recording: () => getDelegate() !== NOOP_PROVIDER }),
  });
}
