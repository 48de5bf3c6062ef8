import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { msgpackCodec } from '../src/msgpack.js';
import { type EngineStack, engineStack } from './support/stack.js';

let stack: EngineStack;
const clock = manualClock();

function playerSchema() {
  return defineSchema({
    table: stack.tables.players,
    l1: { ttl: '60s' },
    l2: { ttl: '30m' },
    negativeTtl: '5s',
  });
}

function newStrata(
  schema: ReturnType<typeof playerSchema>,
  extra: Partial<ConstructorParameters<typeof Strata>[0]> = {},
) {
  return new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    clock,
    schemas: [schema],
    ...extra,
  });
}

const fullRow = (id: string) => ({
  id,
  username: `user-${id}`,
  level: 7,
  xp: 2n ** 60n + 1n,
  score: 1234.5678,
  active: false,
  createdAt: new Date('2026-01-02T03:04:05.678Z'),
  updatedAt: null,
  profile: { nested: { list: [1, 'two', null], when: '2026-01-01T00:00:00.000Z' }, emoji: '🧪' },
  avatar: Uint8Array.from({ length: 256 }, (_, i) => i),
  apiKey: null,
  passwordHash: null,
  notes: 'naïve – ✓',
});

beforeAll(async () => {
  stack = await engineStack('engine_read');
  await newStrata(playerSchema()).migrate();
});
afterAll(() => stack?.cleanup());

describe('the read cascade', () => {
  it('answers from L1, then L2 in a fresh instance, then L3, with identical values', async () => {
    const schema = playerSchema();
    const a = newStrata(schema);
    const written = await a.set(schema, fullRow('cascade'));

    stack.reset();
    expect(await a.get(schema, 'cascade')).toEqual(written);
    expect(a.stats().hits.l1).toBe(1);
    expect(stack.l2Requests).toHaveLength(0);
    expect(stack.statements).toHaveLength(0);

    const b = newStrata(schema);
    const fromL2 = await b.get(schema, 'cascade');
    expect(b.stats().hits).toEqual({ l1: 0, l2: 1, l3: 0 });
    expect(fromL2).toEqual(written);

    const c = newStrata(schema, { keyPrefix: `${stack.keyPrefix}x` });
    const fromL3 = await c.get(schema, 'cascade');
    expect(c.stats().hits).toEqual({ l1: 0, l2: 0, l3: 1 });
    expect(fromL3).toEqual(written);
    expect(fromL3.xp).toBe(2n ** 60n + 1n);
    expect(fromL3.createdAt.getTime()).toBe(Date.parse('2026-01-02T03:04:05.678Z'));
    expect(fromL3.avatar).toEqual(Uint8Array.from({ length: 256 }, (_, i) => i));
    await c.close();
  });

  it('reads back from L2 exactly what L3 holds with the MessagePack codec too', async () => {
    const schema = playerSchema();
    const writer = newStrata(schema, { codec: msgpackCodec });
    const written = await writer.set(schema, fullRow('msgpack'));
    const reader = newStrata(schema, { codec: msgpackCodec });
    expect(await reader.get(schema, 'msgpack')).toEqual(written);
    expect(reader.stats().hits.l2).toBe(1);
  });

  it('fills L1 from L2 with the remaining L2 TTL, not a fresh one', async () => {
    const shortL2 = defineSchema({ table: stack.tables.players, l1: { ttl: '10m' }, l2: { ttl: '2s' } });
    const writer = newStrata(shortL2);
    await writer.set(shortL2, fullRow('ttl'));
    const reader = newStrata(shortL2);
    await reader.get(shortL2, 'ttl');
    clock.advance(2_001);
    stack.reset();
    // The L1 copy expired with the L2 entry it came from, so the read goes down again.
    await reader.find(shortL2, 'ttl');
    expect(reader.stats().hits.l1).toBe(0);
    expect(stack.l2Requests.length).toBeGreaterThan(0);
  });

  it('throws NOT_FOUND from get and resolves null from find', async () => {
    const schema = playerSchema();
    const strata = newStrata(schema);
    const err = await strata.get(schema, 'nobody').catch((e: unknown) => e);
    expect(isStrataError(err, 'NOT_FOUND')).toBe(true);
    expect(await strata.find(schema, 'nobody-2')).toBeNull();
  });

  it('caches "not found" for negativeTtl so repeated misses skip L3', async () => {
    const schema = playerSchema();
    const strata = newStrata(schema);
    stack.reset();
    for (let i = 0; i < 5; i++) expect(await strata.find(schema, 'ghost')).toBeNull();
    expect(stack.statementsOn('players')).toHaveLength(1);
    expect(strata.stats().negativeHits).toBe(4);
    // Another instance sees the marker in L2 and does not ask L3 either.
    const other = newStrata(schema);
    expect(await other.find(schema, 'ghost')).toBeNull();
    expect(stack.statementsOn('players')).toHaveLength(1);
    // A write replaces the marker in L2 at once: a fresh instance reads the row.
    await strata.set(schema, fullRow('ghost'));
    expect((await newStrata(schema).get(schema, 'ghost')).username).toBe('user-ghost');
    expect(await strata.get(schema, 'ghost')).toMatchObject({ username: 'user-ghost' });
  });
});

describe('request coalescing', () => {
  it('makes one L3 query for 100 concurrent gets of one cold key', async () => {
    const schema = playerSchema();
    await newStrata(schema).set(schema, fullRow('hot'));
    const cold = newStrata(schema, { keyPrefix: `${stack.keyPrefix}cold` });
    stack.reset();
    const results = await Promise.all(Array.from({ length: 100 }, () => cold.get(schema, 'hot')));
    expect(new Set(results.map((r) => r.username))).toEqual(new Set(['user-hot']));
    expect(stack.statementsOn('players')).toHaveLength(1);
    expect(cold.stats().l3Reads).toBe(1);
    await cold.close();
  });

  it('a get and a getMany that ask for keys a getMany is loading join its load, by key', async () => {
    const schema = playerSchema();
    const writer = newStrata(schema);
    for (const id of ['j1', 'j2', 'j3']) await writer.set(schema, fullRow(id));
    const cold = newStrata(schema, { keyPrefix: `${stack.keyPrefix}join` });
    stack.reset();
    const batch = cold.getMany(schema, ['j1', 'j2', 'j3', 'jx']);
    // Started in the same turn: every key they ask for is in flight in the batch's load.
    const [rows, one, some] = await Promise.all([
      batch,
      cold.get(schema, 'j2'),
      cold.getMany(schema, ['j3', 'jx', 'j3', 'j1']),
    ]);
    expect(rows.map((r) => r?.id ?? null)).toEqual(['j1', 'j2', 'j3', null]);
    expect(one.username).toBe('user-j2');
    expect(some.map((r) => r?.id ?? null)).toEqual(['j3', null, 'j3', 'j1']);
    expect(stack.statementsOn('players')).toHaveLength(1);
    expect(cold.stats().l3Reads).toBe(1);
    await cold.close();
  });

  it('a load that settled is not joined: the next read of its keys asks L2 again', async () => {
    const schema = defineSchema({ table: stack.tables.players, l1: false, l2: { ttl: '30m' } });
    const writer = newStrata(schema);
    for (const id of ['s1', 's2']) await writer.set(schema, fullRow(id));
    const reader = newStrata(schema);
    await reader.get(schema, 's1'); // the generation is read once, on first use
    const l2Calls = () => reader.stats().latency.l2.calls;
    for (const read of [
      () => reader.get(schema, 's1'),
      () => reader.getMany(schema, ['s1', 's2']),
      () => reader.get(schema, 's2'),
      () => reader.getMany(schema, ['s2', 's1']),
    ]) {
      const before = l2Calls();
      await read();
      expect(l2Calls() - before).toBe(1);
    }
    await reader.close();
    await writer.close();
  });
});

describe('getMany', () => {
  it('makes one L1 pass, one L2 request for L1 misses and one L3 query for L2 misses', async () => {
    const schema = playerSchema();
    const writer = newStrata(schema);
    for (const id of ['m1', 'm2', 'm3']) await writer.set(schema, fullRow(id));
    const reader = newStrata(schema);
    await reader.get(schema, 'm1'); // m1 now in L1 (from L2)
    // m4, m5 exist only in L3: written by an instance with another key root.
    const elsewhere = newStrata(schema, { keyPrefix: `${stack.keyPrefix}else` });
    for (const id of ['m4', 'm5']) await elsewhere.set(schema, fullRow(id));

    stack.reset();
    const rows = await reader.getMany(schema, ['m1', 'm2', 'm3', 'm4', 'm5', 'missing', 'm2']);
    expect(rows.map((r) => r?.id ?? null)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', null, 'm2']);
    // L2: one read for m2..m5 + missing, one fill for m4, m5 (and the negative marker).
    expect(stack.l2Requests).toHaveLength(2);
    expect(stack.statementsOn('players')).toHaveLength(1);
    expect(reader.stats().hits).toEqual({ l1: 1, l2: 3, l3: 2 });
    await elsewhere.close();
  });
});
