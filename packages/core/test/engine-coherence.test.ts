import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defineSchema, type InvalidationBus, Strata } from '../src/index.js';
import { createUpstashLogBus, createUpstashSseBus } from '../src/upstash/index.js';
import { percentile } from '../testing/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

type BusKind = 'upstash-sse' | 'log';

describe.each<BusKind>(['upstash-sse', 'log'])('L1 coherence across instances over the %s bus', (kind) => {
  let stack: EngineStack;
  const channel = uniqueName(`coherence_${kind}`);
  const buses: InvalidationBus[] = [];
  const POLL_MS = 50;

  const makeBus = (): InvalidationBus => {
    const { url, token } = testDevstack().upstash!;
    const bus =
      kind === 'log'
        ? createUpstashLogBus({ url, token, stream: channel })
        : createUpstashSseBus({ url, token, channel });
    buses.push(bus);
    return bus;
  };
  const instance = (schema: Parameters<Strata['register']>[0]) =>
    new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      coherence: { bus: makeBus(), pollInterval: POLL_MS },
      l1: { maxEntries: 1_000 },
      ttl: { l1: '10m' }, // coherence must come from the bus, not from short TTLs
      schemas: [schema],
    });

  beforeAll(async () => {
    stack = await engineStack(`coherence_${kind.replace('-', '_')}`);
    await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await new Redis(testDevstack().upstash!).del(channel);
    await stack?.cleanup();
  });

  it("a write on A is gone from B's L1 within the bound; measures time to coherence", async () => {
    const schema = defineSchema({ table: stack.tables.players });
    const a = instance(schema);
    const b = instance(schema);
    await a.set(schema, { id: 'c1', username: 'c1', level: 0 });
    await b.get(schema, 'c1');
    const latencies: number[] = [];
    for (let level = 1; level <= 40; level++) {
      await a.set(schema, { id: 'c1', username: 'c1', level });
      const started = performance.now();
      await vi.waitFor(async () => expect((await b.get(schema, 'c1')).level).toBe(level), {
        timeout: 5_000,
        interval: 1,
      });
      latencies.push(performance.now() - started);
    }
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.info(
      `[coherence ${kind}] p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (poll ${POLL_MS} ms for the log)`,
    );
    expect(b.stats().invalidationsApplied).toBeGreaterThanOrEqual(40);
    await a.close();
    await b.close();
  });

  it('invalidateAll on A reaches B: L1 cleared and the L2 generation re-read', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    const a = instance(schema);
    const b = instance(schema);
    // Wait for B to have applied n messages; a read triggers the log bus's poll.
    const applied = (n: number) =>
      vi.waitFor(
        async () => {
          await b.find(schema, 'nobody');
          expect(b.stats().invalidationsApplied).toBeGreaterThanOrEqual(n);
        },
        { timeout: 5_000, interval: 5 },
      );
    await a.set(schema, { id: 'all1', username: 'all1' });
    await applied(1);
    await b.get(schema, 'all1');
    expect(b.stats().hits.l2).toBe(1);
    await a.invalidateAll(schema);
    await applied(2);
    const before = b.stats().hits.l3;
    await b.get(schema, 'all1');
    expect(b.stats().hits.l3).toBe(before + 1);
    await a.close();
    await b.close();
  });
});
