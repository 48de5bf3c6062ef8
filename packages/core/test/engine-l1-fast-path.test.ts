import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// get/find answer an L1 hit without an await; peek reads L1 synchronously. Same answers and counts
// as the full path, and the full path whenever L1 may not answer alone.
let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('engine_l1_fast');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(() => stack?.cleanup());

function strataWith(schema: ReturnType<typeof defineSchema>) {
  return new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema] });
}

it('an L1 hit: same row, counted once, no round trip; peek is synchronous and never asks below L1', async () => {
  const schema = defineSchema({ table: stack.tables.players, negativeTtl: '1m' });
  const strata = strataWith(schema);
  expect(strata.peek(schema, 'fp1')).toBeUndefined();
  await strata.set(schema, { id: 'fp1', username: 'fast' });
  stack.reset();
  const before = strata.stats();
  expect((await strata.get(schema, 'fp1')).username).toBe('fast');
  expect((await strata.find(schema, 'fp1'))?.username).toBe('fast');
  expect(strata.peek(schema, 'fp1')?.username).toBe('fast');
  const after = strata.stats();
  expect(after.gets - before.gets).toBe(3);
  expect(after.hits.l1 - before.hits.l1).toBe(3);
  expect(stack.l2Requests).toEqual([]);
  expect(stack.statements).toEqual([]);

  // Cached as absent: find gives null, get rejects NOT_FOUND, peek gives null.
  expect(await strata.find(schema, 'fp-absent')).toBeNull();
  expect(strata.peek(schema, 'fp-absent')).toBeNull();
  await expect(strata.get(schema, 'fp-absent')).rejects.toSatisfy((e) => isStrataError(e, 'NOT_FOUND'));
});

it('a miss in L1 is counted once and goes on to L2 and L3', async () => {
  const schema = defineSchema({ table: stack.tables.players });
  const writer = strataWith(schema);
  await writer.set(schema, { id: 'fp2', username: 'below' });
  const reader = strataWith(schema);
  expect((await reader.get(schema, 'fp2')).username).toBe('below');
  expect(reader.stats()).toMatchObject({ gets: 1, misses: { l1: 1 }, hits: { l1: 0, l2: 1 } });
});

it('hooks around gets take the full path every time', async () => {
  const seen: string[] = [];
  const schema = defineSchema({
    table: stack.tables.players,
    hooks: {
      beforeGet: (id) => void seen.push(`before:${id}`),
      afterGet: (row) => void seen.push(`after:${row.id}`),
    },
  });
  const strata = strataWith(schema);
  await strata.set(schema, { id: 'fp3', username: 'hooked' });
  await strata.get(schema, 'fp3');
  await strata.get(schema, 'fp3');
  expect(seen).toEqual(['before:fp3', 'after:fp3', 'before:fp3', 'after:fp3']);
  expect(strata.peek(schema, 'fp3')).toBeUndefined();
});

it('bad input still rejects (never throws synchronously) and touches nothing', async () => {
  const schema = defineSchema({ table: stack.tables.players });
  const strata = strataWith(schema);
  const unknown = strata.get('no_such_schema', 'x');
  expect(unknown).toBeInstanceOf(Promise);
  await expect(unknown).rejects.toSatisfy((e) => isStrataError(e, 'SCHEMA_NOT_FOUND'));
  await expect(strata.find(schema, { not: 'an id' } as never)).rejects.toSatisfy((e) => isStrataError(e));
  expect(() => strata.peek('no_such_schema', 'x')).toThrow();
});

it('an id L1 holds is read as given; any other is normalized first and read under its normal form', async () => {
  // The fast path looks a string up before checking it (every L1 key is an id's normal form):
  // '7' is found as given; 7 and '007' only after normalizing; a malformed id is refused, uncounted.
  const schema = defineSchema({ table: stack.tables.counters });
  const strata = strataWith(schema);
  await strata.migrate();
  await strata.set(schema, { id: 7, n: 1 });
  stack.reset();
  const before = strata.stats();
  for (const id of ['7', 7, '007']) expect(strata.peek(schema, id)).toEqual({ id: 7, n: 1 });
  expect((await strata.get(schema, '007')).n).toBe(1);
  await expect(strata.get(schema, '7x')).rejects.toSatisfy((e) => isStrataError(e, 'MISSING_PRIMARY_KEY'));
  const texts = defineSchema({ table: stack.tables.sessions });
  const other = strataWith(texts);
  expect(() => other.peek(texts, 'lone \uD800')).toThrow(/well-formed/);
  const after = strata.stats();
  expect(after.gets - before.gets).toBe(4);
  expect(after.hits.l1 - before.hits.l1).toBe(4);
  expect(after.misses.l1 - before.misses.l1).toBe(0);
  expect(other.stats().misses.l1).toBe(0);
  expect(stack.l2Requests).toEqual([]);
  expect(stack.statements).toEqual([]);
});
