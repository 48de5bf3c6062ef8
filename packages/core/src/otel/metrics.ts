import { type Attributes, type Meter, metrics, ValueType } from '@opentelemetry/api';
import type { StrataStats } from '../engine/stats.js';
import type { MetricsRecorder } from '../observability/metrics.js';

/** The meter Strata records into when none is given: the global provider's (a no-op until one is registered). */
const defaultMeter = (): Meter => metrics.getMeter('@strata/core');

/**
 * A {@link MetricsRecorder} that records into OpenTelemetry through `@opentelemetry/api` only (no
 * SDK here): `strata.cache.hits` / `strata.cache.misses` per schema and tier (the hit ratio per
 * tier is hits / (hits + misses)), `strata.errors`, `strata.rejected` and `strata.retries` (L3
 * reads sent again after a lost connection) per schema, tier and operation, and the
 * `strata.tier.duration` histogram (ms) of every remote call, per tier and op.
 * With no provider registered the API's instruments are no-ops.
 * @example
 * import { openTelemetryMetrics } from '@strata/core/otel';
 * const strata = new Strata({ l2, l3, schemas, metrics: openTelemetryMetrics() });
 */
export function openTelemetryMetrics(meter: Meter = defaultMeter()): MetricsRecorder {
  const counter = (name: string, description: string) =>
    meter.createCounter(name, { description, unit: '{call}', valueType: ValueType.INT });
  const counters = new Map([
    ['hit', counter('strata.cache.hits', 'Reads a tier answered')],
    ['miss', counter('strata.cache.misses', 'Reads a tier could not answer')],
    ['error', counter('strata.errors', 'Failures of a tier, the bus, a hook or the queue')],
    ['rejected', counter('strata.rejected', "Calls Postgres refused for the caller's input")],
    ['retry', counter('strata.retries', 'L3 reads sent again after their connection was lost')],
  ]);
  const duration = meter.createHistogram('strata.tier.duration', {
    description: 'Time of one remote call to a tier',
    unit: 'ms',
  });
  return {
    count(name, labels, value = 1) {
      const attributes: Attributes = { 'strata.schema': labels.schema };
      if (labels.tier) attributes['strata.tier'] = labels.tier;
      if (labels.op) attributes['strata.op'] = labels.op;
      // A name this version does not know still counts, under its own instrument.
      let instrument = counters.get(name);
      if (!instrument) {
        instrument = counter(`strata.${name}`, `Strata's ${name} count`);
        counters.set(name, instrument);
      }
      instrument.add(value, attributes);
    },
    observe(_name, ms, labels) {
      duration.record(ms, { 'strata.tier': labels.tier, 'strata.op': labels.op });
    },
  };
}

/**
 * Gauges read from `stats()` at each collection: L1 entries, write-behind writes not yet flushed by
 * this instance, the change relay's lag, and the L2 breaker (0 closed, 1 half-open, 2 open).
 * Returns a function that stops observing.
 * @example const stop = observeStrata(strata); // … on shutdown: stop();
 */
export function observeStrata(source: { stats(): StrataStats }, meter: Meter = defaultMeter()): () => void {
  const gauge = (name: string, description: string, unit: string) =>
    meter.createObservableGauge(name, { description, unit });
  const l1Entries = gauge('strata.l1.entries', "Rows in this instance's L1", '{row}');
  const pending = gauge(
    'strata.writebehind.pending',
    'Write-behind writes this instance enqueued and has not flushed',
    '{write}',
  );
  const relayLag = gauge('strata.capture.relay.lag', "Age of the change relay's cursor", 'ms');
  const breaker = gauge('strata.l2.breaker.state', 'L2 circuit breaker: 0 closed, 1 half-open, 2 open', '1');
  const BREAKER = { closed: 0, 'half-open': 1, open: 2 } as const;
  const observe: Parameters<Meter['addBatchObservableCallback']>[0] = (result) => {
    const stats = source.stats();
    result.observe(l1Entries, stats.l1Entries);
    result.observe(pending, stats.dirtyCount);
    const lag = stats.capture.relay?.lagMs ?? -1;
    if (lag >= 0) result.observe(relayLag, lag); // -1: the cursor never moved yet
    if (stats.l2Breaker) result.observe(breaker, BREAKER[stats.l2Breaker.state]);
  };
  const observables = [l1Entries, pending, relayLag, breaker];
  meter.addBatchObservableCallback(observe, observables);
  return () => meter.removeBatchObservableCallback(observe, observables);
}
