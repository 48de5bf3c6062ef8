import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/clock.js';
import { defineSchema, type L2Tier, Q, Strata, type StrataConfig } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { signal } from './support/wrap.js';

let stack: EngineStack;
let tables: ReturnType<typeof tablesOf>;
const tablesOf = (pg: string) => ({
  items: pgSchema(pg).table('items', { id: text('id').primaryKey(), level: integer('level').notNull() }),
  members: pgSchema(pg).table('members', { id: text('id').primaryKey(), email: text('email') }),
});

beforeAll(async () => {
  stack = await engineStack('reg_reads');
  tables = tablesOf(stack.name);
  const schemas = [defineSchema({ table: tables.items }), defineSchema({ table: tables.members })];
  await new Strata({ l3: stack.l3, schemas }).migrate();
});
afterAll(() => stack?.cleanup());

const instance = (schema: Parameters<Strata['register']>[0], extra: Partial<StrataConfig> = {}) =>
  new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema], ...extra });

/** The read counters of an instance: get and getMany([id]) must move them alike. */
const readCounters = (s: Strata) => {
  const { gets, hits, misses, negativeHits, l3Reads, fencedFills, errorsBy } = s.stats();
  return { gets, hits, misses, negativeHits, l3Reads, fencedFills, errorsBy };
};

describe('searchCached with fields', () => {
  it('issue 12 item 16: an encrypted field comes back as plaintext from the cached list too', async () => {
    const schema = defineSchema({ table: tables.members, fields: { email: { encrypted: true } } });
    const strata = instance(schema, { encryptionKey: new Uint8Array(32).fill(7) });
    await strata.set(schema, { id: 'm1', email: 'ada@example.com' });
    const query = Q().where('id = $1', 'm1').fields('email').build();
    const first = await strata.searchCached(schema, query);
    const second = await strata.searchCached(schema, query); // from the cached list
    expect(first).toEqual([{ email: 'ada@example.com' }]);
    expect(second).toEqual(first);
    const other = instance(schema, { encryptionKey: new Uint8Array(32).fill(7) });
    expect(await other.searchCached(schema, query)).toEqual(first);
  });
});

describe('get and getMany are one read path', () => {
  it('issue 12 item 21 (a): an L1 "absent" filled from an L2 tombstone lives no longer than the tombstone', async () => {
    const schema = defineSchema({ table: tables.items, l1: { ttl: '5m' }, l2: { ttl: '20s' } });
    const clock = manualClock(Date.now());
    const writer = instance(schema, { clock });
    await writer.set(schema, { id: 'tomb', level: 1 });
    await writer.delete(schema, 'tomb'); // a tombstone in L2, for 20 s; L1's policy is 5 min
    clock.advance(5_000); // 15 s of it left
    const [g, m] = [instance(schema, { clock }), instance(schema, { clock })];
    // get (as find: null, not NOT_FOUND) on one instance, getMany([id]) on the other.
    expect([await g.find(schema, 'tomb'), (await m.getMany(schema, ['tomb']))[0]]).toEqual([null, null]);
    expect([g.peek(schema, 'tomb'), m.peek(schema, 'tomb')]).toEqual([null, null]); // L1: known absent
    clock.advance(15_500); // past the tombstone's end: neither L1 may still say "absent"
    expect([g.peek(schema, 'tomb'), m.peek(schema, 'tomb')]).toEqual([undefined, undefined]);
    expect(readCounters(m)).toEqual(readCounters(g));
  });

  it('issue 12 item 21 (b): a fill from L2 that raced a write is counted in fencedFills by both', async () => {
    const schema = defineSchema({ table: tables.items });
    await instance(schema).set(schema, { id: 'race', level: 1 });
    /** An instance whose next L2 read waits, after L2 answered, until the test has written. */
    const gated = () => {
      const state = { armed: true, read: signal(), gate: signal() };
      const l2 = new Proxy(stack.l2, {
        get(target, prop) {
          const value: unknown = Reflect.get(target, prop);
          if (prop !== 'getMany') return typeof value === 'function' ? value.bind(target) : value;
          return async (keys: readonly string[]) => {
            const values = await target.getMany(keys);
            if (state.armed) {
              state.armed = false;
              state.read.resolve();
              await state.gate.promise;
            }
            return values;
          };
        },
      }) as L2Tier;
      return { strata: instance(schema, { l2 }), state };
    };
    const answers: unknown[] = [];
    let level = 1;
    for (const read of ['get', 'getMany'] as const) {
      const { strata, state } = gated();
      const reading =
        read === 'get' ? strata.get(schema, 'race') : strata.getMany(schema, ['race']).then(([row]) => row);
      await state.read.promise; // it holds the L2 value of `level`
      level += 1;
      await strata.set(schema, { id: 'race', level });
      state.gate.resolve();
      answers.push((await reading)?.level, (await strata.get(schema, 'race')).level);
      expect(strata.stats().fencedFills, read).toBe(1);
    }
    expect(answers).toEqual([1, 2, 2, 3]);
  });

  it('issue 12 item 21 (c): an undecodable L2 entry is read from L3 by both', async () => {
    const schema = defineSchema({ table: tables.items });
    await instance(schema).set(schema, { id: 'garbled', level: 4 });
    const [key] = (await stack.rawL2Keys()).filter((k) => k.endsWith(':garbled'));
    const value = (await stack.redis.get(key!))!;
    // The envelope's header as written, then a payload no codec can read.
    const garbage = `${value.split(';').slice(0, 8).join(';')};{"id":"garbled","level":`;
    const [g, m] = [instance(schema), instance(schema)];
    await stack.redis.set(key!, garbage, 'KEEPTTL');
    const viaGet = await g.get(schema, 'garbled');
    await stack.redis.set(key!, garbage, 'KEEPTTL'); // the first read may have repaired it
    const [viaGetMany] = await m.getMany(schema, ['garbled']);
    expect([viaGet, viaGetMany]).toEqual([
      { id: 'garbled', level: 4 },
      { id: 'garbled', level: 4 },
    ]);
    expect(readCounters(m)).toEqual(readCounters(g));
    expect(g.stats().hits.l3).toBe(1);
    expect(g.stats().errorsBy.l2).toBe(1);
  });
});
