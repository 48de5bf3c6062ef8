import { traceOperations } from '../engine/traced-operations.js';
import { noteMiss, noteStale } from './read-span.js';
import { tracedTier } from './traced-tier.js';
import type { Tracer, TracingInstruments } from './tracing.js';

const INSTRUMENTS: TracingInstruments = {
  operations: traceOperations,
  tier: tracedTier,
  noteMiss,
  noteStale,
};

/**
 * `tracer` with what Strata needs to span its operations and calls (`Tracer.instruments`), for a
 * tracer of your own; `openTelemetryTracing()` has them already. Kept out of core's main entry so
 * that a Worker that does not trace does not bundle the span work.
 * @example new Strata({ l2, l3, schemas, tracing: withSpans(myTracer) });
 */
export function withSpans(tracer: Tracer): Tracer {
  return {
    operation: (name, attributes, work) => tracer.operation(name, attributes, work),
    call: (name, attributes, work) => tracer.call(name, attributes, work),
    currentOperation: () => tracer.currentOperation(),
    ...(tracer.recording && { recording: () => tracer.recording!() }),
    instruments: INSTRUMENTS,
  };
}
