import { freePort } from '@strata/devstack';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMemoryQueue, defineSchema, type MetricsRecorder, Strata } from '../src/index.js';
import { createUpstashL2 } from '../src/upstash/index.js';
import { warningLogger } from './support/logs.js';
import { type EngineStack, engineStack } from './support/stack.js';

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('engine_obs');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(() => stack?.cleanup());

it('reports hits and misses per tier to the MetricsRecorder, and L2 failures to the Logger', async () => {
  const counts = new Map<string, number>();
  const metrics: MetricsRecorder = {
    count: (name, labels, value = 1) => {
      const key = `${name}:${labels.tier ?? '-'}`;
      counts.set(key, (counts.get(key) ?? 0) + value);
    },
    observe: () => {},
  };
  const { logger, warnings } = warningLogger();
  const schema = defineSchema({ table: stack.tables.players });
  const strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    metrics,
    logger,
    schemas: [schema],
  });
  await strata.set(schema, { id: 'o1', username: 'obs' });
  await strata.get(schema, 'o1');
  await strata.find(schema, 'absent');
  expect(Object.fromEntries(counts)).toMatchObject({ 'hit:l1': 1, 'miss:l1': 1, 'miss:l2': 1, 'miss:l3': 1 });

  const closed = await freePort();
  const broken = new Strata({
    l2: createUpstashL2({ url: `http://127.0.0.1:${closed}`, token: 't' }),
    l3: stack.l3,
    metrics,
    logger,
    schemas: [schema],
  });
  expect((await broken.get(schema, 'o1')).username).toBe('obs');
  expect(counts.get('error:l2')).toBeGreaterThan(0);
  expect(warnings.some((w) => w.includes('l2'))).toBe(true);
});

it('calls onEvict when L1 drops an entry for capacity', async () => {
  const evicted: [string, string][] = [];
  const schema = defineSchema({
    table: stack.tables.players,
    l1: { maxEntries: 2 },
    hooks: { onEvict: (id, _row, reason) => void evicted.push([id, reason]) },
  });
  const strata = new Strata({ l3: stack.l3, schemas: [schema] });
  for (const id of ['e1', 'e2', 'e3']) await strata.set(schema, { id, username: id });
  expect(evicted).toEqual([['e1', 'capacity']]);
  expect(strata.stats().l1Entries).toBe(2);
});

it('times every L2 and L3 call: stats().latency and MetricsRecorder.observe, failed calls included', async () => {
  const observed: string[] = [];
  const metrics: MetricsRecorder = {
    count: () => {},
    observe: (name, ms, labels) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      observed.push(`${name}:${labels.tier}:${labels.op}`);
    },
  };
  const schema = defineSchema({ table: stack.tables.players });
  const strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    metrics,
    schemas: [schema],
  });
  expect(strata.stats().latency).toEqual({
    l2: { calls: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 },
    l3: { calls: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 },
  });
  stack.reset();
  await strata.set(schema, { id: 'lat1', username: 'lat' });
  await strata.invalidate(schema, 'lat1');
  await strata.get(schema, 'lat1');
  await strata.settled(); // the first write's claim, shared with the app's other instances off its path
  const { latency } = strata.stats();
  // One call per round trip the tiers counted: the timing wraps exactly the tier calls.
  expect(latency.l2.calls).toBe(stack.l2Requests.length);
  expect(latency.l3.calls).toBeGreaterThanOrEqual(1);
  expect(latency.l2.p50Ms).toBeGreaterThan(0);
  expect(latency.l2.p99Ms).toBeGreaterThanOrEqual(latency.l2.p50Ms);
  expect(latency.l2.maxMs).toBeGreaterThanOrEqual(latency.l2.p99Ms);
  expect(observed).toContain('latency:l3:write');
  expect(observed).toContain('latency:l2:getMany');
  expect(observed.filter((o) => o.includes(':l2:'))).toHaveLength(latency.l2.calls);

  const closed = await freePort();
  const broken = new Strata({
    l2: createUpstashL2({ url: `http://127.0.0.1:${closed}`, token: 't', retry: false } as never),
    l3: stack.l3,
    schemas: [schema],
  });
  await broken.get(schema, 'lat1');
  expect(broken.stats().latency.l2.calls).toBe(1); // the failed call is timed too
});

it('queueDepth: null without a queue, the queue’s own count with one', async () => {
  expect(await new Strata({ l3: stack.l3 }).queueDepth()).toBeNull();
  // Another app than the earlier tests' (keyPrefix 'strata' wrote players write-through above, and
  // its claim is live): it takes the table once theirs lapse (docs/semantics.md, "One writer per table").
  await stack.lapseClaims();
  const schema = defineSchema({ table: stack.tables.players, writeMode: 'write-behind' });
  const strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    writeBehind: { queue: createMemoryQueue() },
    schemas: [schema],
  });
  await strata.setMany(schema, [
    { id: 'qd1', username: 'qd1' },
    { id: 'qd2', username: 'qd2' },
  ]);
  expect(await strata.queueDepth()).toBe(2);
  await strata.flushDirty();
  expect(await strata.queueDepth()).toBe(0);
});
