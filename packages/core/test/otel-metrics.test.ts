import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineSchema, Strata } from '../src/index.js';
import { observeStrata, openTelemetryMetrics } from '../src/otel/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Strata's metrics through @opentelemetry/api into the real SDK (a reader collected on demand):
// names, units and attributes as documented, values as the calls made them.
class OnDemandReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

let stack: EngineStack;
beforeAll(async () => {
  stack = await engineStack('otel_metrics');
});
afterAll(async () => {
  await stack?.cleanup();
});

/** Every data point collected, as `name{attributes} = value` (histograms: their count). */
async function points(reader: MetricReader): Promise<Map<string, { value: number; unit: string }>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, { value: number; unit: string }>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints) {
        const attributes = Object.entries(point.attributes)
          .map(([k, v]) => `${k}=${String(v)}`)
          .sort()
          .join(',');
        const value =
          typeof point.value === 'number' ? point.value : (point.value as { count: number }).count;
        out.set(`${metric.descriptor.name}{${attributes}}`, { value, unit: metric.descriptor.unit });
      }
    }
  }
  return out;
}

it('counts hits and misses per tier, times every remote call, and observes stats as gauges', async () => {
  const reader = new OnDemandReader();
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('test');
  const players = defineSchema({ table: stack.tables.players });
  const strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [players],
    metrics: openTelemetryMetrics(meter),
  });
  let reads = 0;
  const stop = observeStrata(
    {
      stats: () => {
        reads += 1;
        return strata.stats();
      },
    },
    meter,
  );
  try {
    await strata.migrate();
    await strata.set(players, { id: 'o1', username: 'o1' });
    await strata.invalidate(players, 'o1'); // L1 only: the next get misses L1, hits L2
    await strata.get(players, 'o1');
    await strata.get(players, 'o1'); // L1 hit
    expect(await strata.find(players, 'absent')).toBeNull(); // misses every tier
    const got = await points(reader);
    const schema = `strata.schema=${players.name}`;
    // The same counts stats() keeps, tier by tier.
    const stats = strata.stats();
    for (const tier of ['l1', 'l2', 'l3'] as const) {
      expect(got.get(`strata.cache.hits{${schema},strata.tier=${tier}}`)?.value ?? 0, `${tier} hits`).toBe(
        stats.hits[tier],
      );
      expect(
        got.get(`strata.cache.misses{${schema},strata.tier=${tier}}`)?.value ?? 0,
        `${tier} misses`,
      ).toBe(stats.misses[tier]);
    }
    expect(got.get(`strata.cache.hits{${schema},strata.tier=l1}`)).toEqual({ value: 1, unit: '{call}' });
    expect(stats.misses.l1).toBe(2);
    const l3Calls = [...got].filter(([name]) => name.startsWith('strata.tier.duration{strata.op='));
    expect(l3Calls.length).toBeGreaterThan(0);
    expect(l3Calls.every(([, p]) => p.unit === 'ms' && p.value >= 1)).toBe(true);
    expect(got.get('strata.l1.entries{}')).toEqual({ value: strata.stats().l1Entries, unit: '{row}' });
    expect(got.get('strata.writebehind.pending{}')?.value).toBe(0);
    expect(got.get('strata.l2.breaker.state{}')?.value).toBe(0);
    expect(reads).toBe(1); // one stats() per collection, for every gauge
    stop();
    await points(reader);
    expect(reads).toBe(1);
  } finally {
    await strata.close();
    await provider.shutdown();
  }
});

it('records nothing and costs no setup when no provider is registered (the API is a no-op)', () => {
  const metrics = openTelemetryMetrics();
  expect(() => metrics.count('hit', { schema: 's', tier: 'l1' })).not.toThrow();
  expect(() => metrics.observe('latency', 1, { tier: 'l2', op: 'get' })).not.toThrow();
});
