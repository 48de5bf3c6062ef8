import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

let stack: EngineStack;
let items: ReturnType<typeof itemsTable>;
const itemsTable = (pg: string) =>
  pgSchema(pg).table('items', { id: text('id').primaryKey(), level: integer('level').notNull() });
const stream = uniqueName('reg_bus');
const instances: Strata[] = [];

beforeAll(async () => {
  stack = await engineStack('reg_bus');
  items = itemsTable(stack.name);
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: items })] }).migrate();
});
afterAll(async () => {
  await Promise.all(instances.map((s) => s.close()));
  await stack?.redis.del(stream);
  await stack?.cleanup();
});

/** An instance on the shared invalidation log; L1 lives long, so only the bus can make it coherent. */
function instance(schema: Parameters<Strata['register']>[0]) {
  const { url, token } = testDevstack().upstash!;
  const strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    coherence: { bus: createUpstashLogBus({ url, token, stream }), pollInterval: 20 },
    ttl: { l1: '10m' },
    schemas: [schema],
  });
  instances.push(strata);
  return strata;
}

const eventually = (check: () => Promise<void>) => vi.waitFor(check, { timeout: 5_000, interval: 20 });

describe('bus messages over the limit', () => {
  it('issue 12 item 13: a write too big for one message reaches the other instance whole, and never blocks the next', async () => {
    const schema = defineSchema({ table: items });
    const a = instance(schema);
    const b = instance(schema);

    // An id over 512 bytes never gets as far as a message: refused at input.
    const tooLong = await a.set(schema, { id: 'k'.repeat(1_100), level: 1 }).catch((e: unknown) => e);
    expect(isStrataError(tooLong, 'MISSING_PRIMARY_KEY')).toBe(true);

    // 600 ids of 500 bytes: their JSON (~300 KiB) is over the 256 KiB a message may hold.
    const ids = Array.from({ length: 600 }, (_, i) => `${i}-`.padEnd(500, 'x'));
    await a.setMany(
      schema,
      ids.map((id) => ({ id, level: 1 })),
    );
    await a.set(schema, { id: 'after', level: 1 });
    expect((await b.getMany(schema, ids)).every((row) => row?.level === 1)).toBe(true);
    expect((await b.get(schema, 'after')).level).toBe(1);

    await a.setMany(
      schema,
      ids.map((id) => ({ id, level: 2 })),
    );
    // B's L1 held every one of them at level 1 for 10 min: only a whole-schema drop makes it read level 2.
    await eventually(async () => {
      expect((await b.getMany(schema, ids)).map((row) => row?.level)).toEqual(ids.map(() => 2));
    });
    // …and a whole-schema drop it was: `after`, not in that write, left B's L1 too.
    const fromL2 = b.stats().hits.l2;
    expect((await b.get(schema, 'after')).level).toBe(1);
    expect(b.stats().hits.l2).toBe(fromL2 + 1);

    // The next small write's invalidation reaches B: nothing is stuck in front of it.
    await a.set(schema, { id: 'after', level: 2 });
    await eventually(async () => {
      expect((await b.get(schema, 'after')).level).toBe(2);
    });
    expect(a.stats().errorsBy.bus ?? 0).toBe(0);
  });
});
