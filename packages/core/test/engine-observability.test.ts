import { freePort } from '@strata/devstack';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineSchema, type Logger, type MetricsRecorder, Strata } from '../src/index.js';
import { createUpstashL2 } from '../src/upstash.js';
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
  const warnings: string[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (m) => void warnings.push(m), error() {} };
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
