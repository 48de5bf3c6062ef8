import { isStrataError } from '../errors.js';
import type { Tier } from './metrics.js';

/** Attribute values a span takes (OpenTelemetry's primitive ones). */
export type SpanAttributeValue = string | number | boolean;
export type SpanAttributes = Record<string, SpanAttributeValue>;

/** One span, as Strata drives it: attributes while it runs, the failure it ends with, its end. */
export interface TraceSpan {
  setAttribute(key: string, value: SpanAttributeValue): void;
  /** The failure the span ends with: recorded as an exception, the span's status an error. */
  recordError(error: unknown): void;
  end(): void;
}

/**
 * Tracing seam (`config.tracing`), shaped so an OpenTelemetry tracer is a few lines
 * (`openTelemetryTracing()` in `@strata/core/otel`). Each method runs `work` with the new span active
 * in its async context, so spans started while it runs (Strata's and the drivers') are its children;
 * Strata ends the span when `work` settles.
 * @example
 * const tracing: Tracer = {
 *   operation: (name, attributes, work) => myTracer.inSpan(name, attributes, work),
 *   call: (name, attributes, work) => myTracer.inSpan(name, { kind: 'client', ...attributes }, work),
 *   currentOperation: () => myTracer.current(),
 * };
 */
export interface Tracer {
  /** A span of one public operation (`strata.get`, …): kind internal. */
  operation<T>(name: string, attributes: SpanAttributes, work: (span: TraceSpan) => T): T;
  /** A span of one remote call to a tier, the bus or the queue: kind client. */
  call<T>(name: string, attributes: SpanAttributes, work: (span: TraceSpan) => T): T;
  /** The span `operation` made active in this async context, if any (where a read notes its tier). */
  currentOperation(): TraceSpan | undefined;
  /**
   * Whether a span made now would be recorded (false: no provider registered yet). Asked before
   * each operation and call: false skips the span and all Strata's work for it. Absent: always.
   */
  recording?(): boolean;
  /**
   * How Strata spans its operations and calls, passed in with the tracer (`withSpans(tracer)` from
   * `@strata/core/driver` adds it; `openTelemetryTracing()` has it) so that a Worker that does not
   * trace does not bundle it. A tracer without it is refused (INVALID_CONFIG).
   */
  readonly instruments?: TracingInstruments;
}

/** Where a traced remote call goes. */
export type CallSite = 'l2' | 'l3' | 'queue' | 'bus';

/** The span work Strata does for a tracer (see `Tracer.instruments`). */
export interface TracingInstruments {
  /** Gives the instance's public operations their spans. */
  operations(strata: object, tracer: Tracer): void;
  /** `target` (a tier, the queue, the bus) with a span around each remote call. */
  tier<T extends object>(target: T, site: CallSite, tracer: Tracer): T;
  /** The current read missed `tier` of an instance with these tiers configured. */
  noteMiss(tracer: Tracer, tier: Tier, tiers: { readonly l2?: unknown; readonly l3?: unknown }): void;
  /** The current read was answered past its freshness. */
  noteStale(tracer: Tracer): void;
}

const noopSpan: TraceSpan = { setAttribute() {}, recordError() {}, end() {} };

/** No spans. Compared by identity: with it, the engine wraps nothing and skips every trace step. */
export const noopTracing: Tracer = {
  operation: (_name, _attributes, work) => work(noopSpan),
  call: (_name, _attributes, work) => work(noopSpan),
  currentOperation: () => undefined,
};

/** Whether `tracer` records a span made now (one call; a tracer without `recording` always does). */
export function recording(tracer: Tracer): boolean {
  return tracer.recording === undefined || tracer.recording();
}

/**
 * Runs `run` in a span of `kind` and ends the span when it settles; a failure is recorded on it with
 * its Strata code (`strata.error.code`, and `error.type` as OpenTelemetry's conventions name it).
 * `onEnd` sets what is known only then (a read's tier).
 */
export function traced<T>(
  tracer: Tracer,
  kind: 'operation' | 'call',
  name: string,
  attributes: SpanAttributes,
  run: (span: TraceSpan) => T,
  onEnd?: (span: TraceSpan) => void,
): T {
  return tracer[kind](name, attributes, (span) => {
    const end = () => {
      onEnd?.(span);
      span.end();
    };
    const fail = (err: unknown) => {
      failed(span, err);
      end();
    };
    let result: T;
    try {
      result = run(span);
    } catch (err) {
      fail(err);
      throw err;
    }
    if (!(result instanceof Promise)) {
      end();
      return result;
    }
    return result.then(
      (value: unknown) => {
        end();
        return value;
      },
      (err: unknown) => {
        fail(err);
        throw err;
      },
    ) as T;
  });
}

function failed(span: TraceSpan, err: unknown): void {
  const type = isStrataError(err) ? err.code : err instanceof Error ? err.name : typeof err;
  if (isStrataError(err)) span.setAttribute('strata.error.code', err.code);
  span.setAttribute('error.type', type);
  span.recordError(err);
}
