import { callName } from './latency.js';
import { noteTier } from './read-span.js';
import { type CallSite, recording, type SpanAttributes, type Tracer, traced } from './tracing.js';

/** OpenTelemetry's `db.system.name` of a tier (the L2 seam speaks Redis, the L3 seam Postgres). */
const SYSTEM: Partial<Record<CallSite, string>> = { l2: 'redis', l3: 'postgresql' };
/** Not per-request work, or not a call at all: passed through without a span. */
const UNTRACED = new Set(['close', 'stats', 'subscribe']);
/** Calls that only a read below L1 makes: the operation they run under reached that tier. */
const READS: Partial<Record<CallSite, ReadonlySet<string>>> = {
  l2: new Set(['getMany']),
  l3: new Set(['findMany', 'exists', 'search', 'count']),
};

/**
 * `target` with a client span around every async method call made under a Strata operation (`strata.l2.getMany`,
 * `strata.l3.findMany`, `strata.queue.enqueue`, `strata.bus.publish`, an L2 script by its name):
 * `strata.tier`, `strata.op`, and `db.system.name` / `db.operation.name` for L2 and L3. Used only
 * when tracing is on: with it off the engine does not wrap its tiers at all.
 */
export function tracedTier<T extends object>(target: T, site: CallSite, tracer: Tracer): T {
  const system = SYSTEM[site];
  const reads = READS[site];
  // One wrapper per method, made on first use (as measuredTier).
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver);
      if (typeof value !== 'function') return value;
      let fn = wrapped.get(prop);
      if (fn === undefined) {
        fn = wrap(t, prop, value as (...args: unknown[]) => unknown);
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });

  function wrap(t: T, prop: PropertyKey, method: (...args: unknown[]) => unknown) {
    // Bound to the target itself: its methods may read private fields, which a Proxy does not have.
    if (typeof prop !== 'string' || UNTRACED.has(prop)) return method.bind(t);
    return (...args: unknown[]) => {
      // Only under an operation: a timer's work (flush rounds, the relay) would be a root span per tick.
      if (!recording(tracer) || tracer.currentOperation() === undefined) return method.apply(t, args);
      const op = callName(prop, args);
      const attributes: SpanAttributes = { 'strata.tier': site, 'strata.op': op };
      if (system) {
        attributes['db.system.name'] = system;
        attributes['db.system'] = system; // the name before semantic conventions 1.26
        attributes['db.operation.name'] = op;
      }
      // L3 calls name the schema they serve first; L2 calls may serve several.
      const schema = site === 'l3' ? (args[0] as { name?: unknown } | undefined)?.name : undefined;
      if (typeof schema === 'string') attributes['strata.schema'] = schema;
      if (reads?.has(op) && (site === 'l2' || site === 'l3')) noteTier(tracer, site);
      return traced(tracer, 'call', `strata.${site}.${op}`, attributes, () => method.apply(t, args));
    };
  }
}
