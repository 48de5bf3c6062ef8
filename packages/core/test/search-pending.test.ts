import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SEARCH_PENDING } from '../src/engine/pending-index.js';
import { defineSchema, Q, type Query, Strata, type StrataConfig } from '../src/index.js';
import { createMemoryQueue, type MemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Searches on a write-behind schema answer as if every acknowledged write were in Postgres already
// (the schema's pending index in L2 laid over the table: engine/pending-index.ts, drizzle/overlay.ts),
// on the writer and on every other instance, and the same after the flush.

const KEY = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
let stack: EngineStack;
let schema: ReturnType<typeof behind>;
const behind = () =>
  defineSchema({
    table: stack.tables.players,
    writeMode: 'write-behind',
    fields: { apiKey: { encrypted: true }, passwordHash: { omitCache: true } },
  });

beforeAll(async () => {
  stack = await engineStack('search_pending');
  schema = behind();
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(() => stack?.cleanup());

const opened: Strata[] = [];
afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
});

/** Two instances on one queue (as two processes on one Redis Stream): `a` writes, both read. */
function pair(extra: Partial<StrataConfig> = {}): { a: Strata; b: Strata; queue: MemoryQueue } {
  const queue = createMemoryQueue();
  const make = () =>
    new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      encryptionKey: KEY,
      schemas: [schema],
      // No flush but the test's own (the default threshold, 100, starts one in the background,
      // which raced the 1,001-write test's search under load).
      writeBehind: { queue, maxRetry: 2, threshold: 1_000_000 },
      ...extra,
    });
  const [a, b] = [make(), make()];
  opened.push(a, b);
  return { a, b, queue };
}

/**
 * The entries of the schema's pending index and their marks, as Redis holds them; with `names`, the
 * fields naming an entry's client defaults (`+{row key}`, see `named` in l2/scripts.ts) instead.
 */
async function indexSize(names = false): Promise<number> {
  const keys = await stack.redis.keys(`${stack.keyPrefix}:*:pending`);
  let n = 0;
  for (const key of keys)
    n += (await stack.redis.hkeys(key)).filter((field) => field.startsWith('+') === names).length;
  return n;
}

async function inPostgres(id: string) {
  const [row] = await stack.db.select().from(stack.tables.players).where(eq(stack.tables.players.id, id));
  return row;
}

/** What search, searchCached and count answer on one instance, as ids (and levels). */
async function answers(s: Strata, query: Query, countQuery: Query) {
  const view = (rows: Record<string, unknown>[]) => rows.map((r) => `${r.id}:${r.level}`);
  return {
    search: view(await s.search(schema, query)),
    cached: view(await s.searchCached(schema, query)),
    count: await s.count(schema, countQuery),
  };
}

describe('searches on a write-behind schema read acknowledged writes before their flush', () => {
  it('a pending update, delete and insert change where, order, limit and count on both instances; the flush changes nothing', async () => {
    const { a, b } = pair();
    const g = 'g1';
    for (const [id, level] of [
      ['p1', 10],
      ['p2', 20],
      ['p3', 30],
      ['p4', 40],
    ] as const)
      await a.set(schema, { id, username: `${g}${id}`, level, notes: g });
    await a.flushDirty();
    expect(await indexSize()).toBe(0);
    const top = Q().where('notes = $1 AND level >= $2', g, 15).orderBy('level').desc().limit(3).build();
    const all = Q().where('notes = $1 AND level >= $2', g, 15).build();
    // Both instances cache the list before the writes.
    for (const s of [a, b]) expect((await answers(s, top, all)).cached).toEqual(['p4:40', 'p3:30', 'p2:20']);

    await a.set(schema, { id: 'p1', username: `${g}p1`, level: 35, notes: g }); // now matches, 2nd
    await a.delete(schema, 'p4'); // gone
    await a.set(schema, { id: 'p2', username: `${g}p2`, level: 5, notes: g }); // no longer matches
    await a.set(schema, { id: 'p5', username: `${g}p5`, level: 50, notes: g }); // new, first
    expect(await inPostgres('p5')).toBeUndefined();
    expect(await indexSize()).toBe(4);
    // p5, a new row its set left columns out of, has client defaults: named beside its entry.
    expect(await indexSize(true)).toBe(1);
    const expected = { search: ['p5:50', 'p1:35', 'p3:30'], cached: ['p5:50', 'p1:35', 'p3:30'], count: 3 };
    expect(await answers(a, top, all)).toEqual(expected);
    expect(await answers(b, top, all)).toEqual(expected);
    // A page past the limit: offset applies to the laid-over rows too.
    const page = Q().where('notes = $1', g).orderBy('level').desc().limit(2).offset(2).build();
    expect((await b.search(schema, page)).map((r) => r.id)).toEqual(['p3', 'p2']);

    await a.flushDirty();
    expect(await indexSize()).toBe(0);
    expect(await indexSize(true)).toBe(0);
    expect((await inPostgres('p5'))?.level).toBe(50);
    expect(await answers(a, top, all)).toEqual(expected);
    expect(await answers(b, top, all)).toEqual(expected);
  });

  it('a write flushed, then overwritten: the search answers the newer queued row, then the flushed one', async () => {
    const { a, b } = pair();
    await a.set(schema, { id: 'o1', username: 'o1', level: 1, notes: 'g2' });
    await a.flushDirty();
    await a.set(schema, { id: 'o1', username: 'o1', level: 2, notes: 'g2' });
    await a.set(schema, { id: 'o1', username: 'o1', level: 3, notes: 'g2' });
    const q = Q().where('notes = $1', 'g2').build();
    expect((await b.searchCached(schema, q)).map((r) => r.level)).toEqual([3]);
    expect((await a.search(schema, q)).map((r) => r.level)).toEqual([3]);
    await a.flushDirty();
    expect(await indexSize()).toBe(0);
    expect((await b.searchCached(schema, q)).map((r) => r.level)).toEqual([3]);
    expect((await inPostgres('o1'))?.level).toBe(3);
  });

  it('every column type, an encrypted and an omitCache field read the same before and after the flush', async () => {
    const { a, b } = pair();
    await a.set(schema, {
      id: 't0',
      username: 't0',
      level: 1,
      notes: 'g3',
      passwordHash: 'old',
      apiKey: 'k0',
    });
    await a.flushDirty();
    const row = {
      id: 't0',
      username: 't0',
      level: 7,
      xp: 1234567890123456789n,
      score: 1.5,
      active: false,
      updatedAt: new Date('2024-01-02T03:04:05.678Z'),
      profile: { nested: { a: [1, 'two'] } },
      avatar: new Uint8Array([0, 1, 254, 255]),
      apiKey: 'secret-key',
      passwordHash: 'new-hash',
      notes: 'g3',
    };
    await a.set(schema, row);
    await a.set(schema, { ...row, id: 't1', username: 't1' }); // a new row: no stored one beneath
    const q = Q().where('notes = $1 AND password_hash = $2', 'g3', 'new-hash').orderBy('id').build();
    const before = await b.search(schema, q);
    expect(before.map((r) => r.id)).toEqual(['t0', 't1']);
    expect(before[0]).toMatchObject({ ...row, createdAt: expect.any(Date) });
    await a.flushDirty();
    const after = await b.search(schema, q);
    expect(after).toEqual(before);
    // Postgres holds ciphertext, which the laid-over row carried too (the search decrypted it).
    expect((await inPostgres('t1'))?.apiKey).not.toBe('secret-key');
  });

  it('a write Postgres refuses: read as applied while it is retried, gone from every search once dead-lettered', async () => {
    const { a, b, queue } = pair();
    await a.set(schema, { id: 'd1', username: 'taken', level: 1, notes: 'g4' });
    await a.flushDirty();
    await a.set(schema, { id: 'd2', username: 'taken', level: 2, notes: 'g4' }); // unique username: 23505 at the flush
    const q = Q().where('notes = $1', 'g4').orderBy('id').build();
    // Acknowledged: every read answers it until Postgres refuses it for good (as get does).
    expect((await b.search(schema, q)).map((r) => r.id)).toEqual(['d1', 'd2']);
    expect((await b.get(schema, 'd2')).level).toBe(2);
    for (let i = 0; i < 2; i++) await a.flushDirty().catch(() => {});
    expect(queue.deadLetters().map((d) => d.write.id)).toEqual(['d2']);
    expect(await indexSize()).toBe(0);
    for (const s of [a, b]) {
      expect((await s.search(schema, q)).map((r) => r.id)).toEqual(['d1']);
      expect((await s.searchCached(schema, q)).map((r) => r.id)).toEqual(['d1']);
      expect(await s.count(schema, q)).toBe(1);
    }
  });

  it(`more than ${MAX_SEARCH_PENDING} queued writes of the schema: the search is refused, not answered without them`, async () => {
    const { a, b } = pair();
    const rows = Array.from({ length: MAX_SEARCH_PENDING + 1 }, (_, i) => ({
      id: `bk${i}`,
      username: `bk${i}`,
      notes: 'g5',
    }));
    await a.setMany(schema, rows);
    const q = Q().where('notes = $1', 'g5').build();
    await expect(b.search(schema, q)).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    await expect(b.count(schema, q)).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    await a.flushDirty();
    expect(await indexSize()).toBe(0);
    expect(await b.count(schema, q)).toBe(MAX_SEARCH_PENDING + 1);
  });

  it('queued writes a transaction superseded count once toward the bound (their marks are no writes)', async () => {
    // The transaction marks each queued entry it supersedes (a `#{row key}` field in the same index,
    // see RESERVE_THROUGH): 600 writes wait, 1,200 fields. Before, the search was refused
    // (QUEUE_UNAVAILABLE, "1200 write-behind writes wait") below the bound of 1,000.
    const { a, b } = pair();
    const n = 600;
    const rows = Array.from({ length: n }, (_, i) => ({
      id: `mk${i}`,
      username: `mk${i}`,
      level: 1,
      notes: 'g8',
    }));
    await a.setMany(schema, rows);
    const tx = b.tx();
    for (const row of rows) tx.set(schema, { ...row, level: 2 });
    await tx.commit();
    expect(await indexSize()).toBe(2 * n);
    const q = Q().where('notes = $1', 'g8').build();
    const two = Q().where('notes = $1 AND level = $2', 'g8', 2).build();
    for (const s of [a, b]) {
      expect(await s.count(schema, q)).toBe(n);
      expect(await s.count(schema, two)).toBe(n);
      expect((await s.search(schema, q)).every((r) => r.level === 2)).toBe(true);
    }
    await a.flushDirty();
    expect(await indexSize()).toBe(0);
    expect(await b.count(schema, two)).toBe(n);
  });
});

describe('round trips', () => {
  it('a write-behind search: one L2 request for the index, then one statement; a write-through one: no L2 request', async () => {
    const { a, b } = pair();
    await a.set(schema, { id: 'r1', username: 'r1', notes: 'g6' });
    await a.flushDirty();
    const q = Q().where('notes = $1', 'g6').build();
    await b.search(schema, q); // warm: generation known, scripts loaded
    await b.settled();
    stack.reset();
    expect((await b.search(schema, q)).length).toBe(1);
    expect({ l2: stack.l2Commands, sql: stack.statementsOn('players').length }).toEqual({
      l2: ['evalsha pending'],
      sql: 1,
    });
    await a.set(schema, { id: 'r2', username: 'r2', notes: 'g6' });
    stack.reset();
    expect((await b.search(schema, q)).length).toBe(2);
    expect({ l2: stack.l2Commands, sql: stack.statementsOn('players').length }).toEqual({
      l2: ['evalsha pending'],
      sql: 1,
    });
    await a.flushDirty();

    const through = defineSchema({ table: stack.tables.players });
    const plain = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}wt`,
      schemas: [through],
    });
    opened.push(plain);
    await plain.search(through, q);
    await plain.settled();
    stack.reset();
    await plain.search(through, q);
    await plain.settled();
    expect(stack.l2Commands.filter((c) => c.includes('pending'))).toEqual([]);
  });
});

describe('over neon-http (rows as text, params as text)', () => {
  it('a pending update and insert are laid over Postgres the same way', async () => {
    const neonStack = await engineStack('search_pending_neon', 'neon-http');
    try {
      const s = defineSchema({ table: neonStack.tables.players, writeMode: 'write-behind' });
      await new Strata({
        l3: neonStack.l3,
        schemas: [defineSchema({ table: neonStack.tables.players })],
      }).migrate();
      const strata = new Strata({
        l2: neonStack.l2,
        l3: neonStack.l3,
        keyPrefix: neonStack.keyPrefix,
        schemas: [s],
        writeBehind: { queue: createMemoryQueue() },
      });
      opened.push(strata);
      await strata.set(s, { id: 'n1', username: 'n1', level: 1, avatar: new Uint8Array([9, 8]) });
      await strata.flushDirty();
      await strata.set(s, { id: 'n1', username: 'n1', level: 5, avatar: new Uint8Array([1, 2, 3]) });
      await strata.set(s, { id: 'n2', username: 'n2', level: 3, xp: 42n });
      const q = Q().where('level > $1', 2).orderBy('level').build();
      const before = await strata.search(s, q);
      expect(before.map((r) => [r.id, r.level])).toEqual([
        ['n2', 3],
        ['n1', 5],
      ]);
      expect(before[1]?.avatar).toEqual(new Uint8Array([1, 2, 3]));
      expect(before[0]?.xp).toBe(42n);
      expect(await strata.count(s, q)).toBe(2);
      await strata.flushDirty();
      expect(await strata.search(s, q)).toEqual(before);
    } finally {
      await neonStack.cleanup();
    }
  });
});
