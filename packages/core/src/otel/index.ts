// `@strata/core/otel`: Strata's metrics and spans in OpenTelemetry, through `@opentelemetry/api` only
// (an optional peer dependency: apps that do not import this entry do not load it).
export { observeStrata, openTelemetryMetrics } from './metrics.js';
export { openTelemetryTracing } from './tracing.js';
