import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CompiledSchema, defineSchema, type InvalidationBus, Strata } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// What a read answers after a write behind Strata's back (SQL) and `invalidateTags` of the row's
// tag, where a cache held the key as absent, or where the app's tag clock went back (a Redis data
// loss). The two-apps model (reliability/test/model-two-apps.test.ts, qualified + extras, seed 74
// run 65) once read `undefined` there where Postgres held the row; these are the sequences that
// could give it, each run alone.

let stack: EngineStack;
const channel = uniqueName('tags_absent_log');
const buses: InvalidationBus[] = [];

beforeAll(async () => {
  stack = await engineStack('tags_absent');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterEach(() => stack.lapseClaims());
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await new Redis(testDevstack().upstash!).del(channel);
  await stack?.cleanup();
});

/** Each row tagged by its id (as the model's rows are by their key). */
const tagged = (extra: Partial<Parameters<typeof defineSchema>[0]> = {}) =>
  defineSchema({
    table: stack.tables.players,
    tags: (row: { id: string }) => [`key:${row.id}`],
    ...extra,
  } as Parameters<typeof defineSchema>[0]);

/** An instance of app `prefix` with a log bus read before every read (pollInterval 0): deterministic. */
const instance = (schema: CompiledSchema, prefix: string, bus = true) => {
  const b = bus ? createUpstashLogBus({ ...testDevstack().upstash!, stream: channel }) : undefined;
  if (b) buses.push(b);
  return new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: `${stack.keyPrefix}${prefix}`,
    ttl: { l1: '10m', l2: '10m' },
    ...(b && { coherence: { bus: b, pollInterval: 0 } }),
    schemas: [schema],
  });
};

const insertBehind = (id: string, username: string) =>
  stack.db.insert(stack.tables.players).values({ id, username, level: 1 });
const renameBehind = (id: string, username: string) =>
  stack.db.update(stack.tables.players).set({ username }).where(eq(stack.tables.players.id, id));
const username = (row: unknown) => (row as { username?: string } | null)?.username;

describe('a key cached as absent, then written behind Strata and its tag invalidated', () => {
  it("the deleter's own read (its L1 tombstone) finds the row", async () => {
    const s = tagged();
    const a = instance(s, 'own');
    await a.set(s, { id: 'own1', username: 'own-1', level: 1 });
    await a.delete(s, 'own1');
    expect(await a.find(s, 'own1')).toBeNull();
    await insertBehind('own1', 'own-sql');
    await a.invalidateTags(['key:own1']);
    expect(username(await a.find(s, 'own1'))).toBe('own-sql');
    await a.close();
  });

  it("another instance's read (L2's tombstone, then its own L1 copy of it) finds the row", async () => {
    const s = tagged();
    const [a, b] = [instance(s, 'other'), instance(s, 'other')];
    await a.set(s, { id: 'oth1', username: 'oth-1', level: 1 });
    await a.delete(s, 'oth1');
    expect(await b.find(s, 'oth1')).toBeNull(); // from L2's tombstone, kept in B's L1
    await insertBehind('oth1', 'oth-sql');
    await a.invalidateTags(['key:oth1']);
    expect(username(await b.find(s, 'oth1'))).toBe('oth-sql');
    await Promise.all([a.close(), b.close()]);
  });

  it('a fresh instance (nothing in L1) does not take L2 tombstone for the row', async () => {
    const s = tagged();
    const a = instance(s, 'fresh');
    await a.set(s, { id: 'fr1', username: 'fr-1', level: 1 });
    await a.delete(s, 'fr1');
    await insertBehind('fr1', 'fr-sql');
    await a.invalidateTags(['key:fr1']);
    const c = instance(s, 'fresh', false);
    expect(username(await c.find(s, 'fr1'))).toBe('fr-sql');
    await Promise.all([a.close(), c.close()]);
  });
});

describe('negative entries and pending deletes through invalidateTags', () => {
  it('a negative entry (negativeTtl) of a key SQL then inserts goes with the tag move', async () => {
    const s = tagged({ negativeTtl: '10m' });
    const [a, b] = [instance(s, 'neg'), instance(s, 'neg')];
    expect(await a.find(s, 'ng1')).toBeNull(); // A's L1 and L2 hold it as absent
    expect(await b.find(s, 'ng1')).toBeNull(); // B's L1 too, from L2
    expect(b.stats().negativeHits).toBe(1);
    await insertBehind('ng1', 'ng-sql');
    await a.invalidateTags(['key:ng1']);
    expect(username(await a.find(s, 'ng1'))).toBe('ng-sql');
    expect(username(await b.find(s, 'ng1'))).toBe('ng-sql');
    await Promise.all([a.close(), b.close()]);
  });

  it('a write-behind delete pending its flush stays through invalidateTags', async () => {
    const s = tagged({ writeMode: 'write-behind' });
    const a = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}wbdel`,
      writeBehind: { queue: createMemoryQueue() },
      schemas: [s],
    });
    await insertBehind('wd1', 'wd-sql');
    await a.delete(s, 'wd1'); // queued: Postgres still holds the row
    await a.invalidateTags(['key:wd1']);
    expect(await a.find(s, 'wd1')).toBeNull(); // L1's copy went; L2's pending tombstone answers
    const c = instance(tagged(), 'wbdel', false);
    expect(await c.find('players', 'wd1')).toBeNull();
    await a.flushDirty();
    expect(await c.find('players', 'wd1')).toBeNull();
    await Promise.all([a.close(), c.close()]);
  });
});

describe('tombstones and versions across instances (no SQL)', () => {
  it("a delete of a key with no row, then another instance's set: the deleter reads the set", async () => {
    const s = tagged();
    const [a, b] = [instance(s, 'norow'), instance(s, 'norow')];
    await a.delete(s, 'nr1'); // no row: its tombstone in A's L1 and in L2
    expect(await a.find(s, 'nr1')).toBeNull();
    await b.set(s, { id: 'nr1', username: 'nr-b', level: 1 });
    expect(username(await a.find(s, 'nr1'))).toBe('nr-b');
    await renameBehind('nr1', 'nr-sql');
    await b.invalidateTags(['key:nr1']);
    expect(username(await a.find(s, 'nr1'))).toBe('nr-sql');
    await Promise.all([a.close(), b.close()]);
  });
});

describe("the app's tag clock after Redis lost the app's keys", () => {
  it('a row stamped by an instance that knew the old clock is refused after the next tag move', async () => {
    const s = tagged();
    const a = instance(s, 'clock', false);
    // B keeps nothing in L1: every read is L2's copy or Postgres.
    const b = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}clock`,
      ttl: { l2: '10m' },
      schemas: [tagged({ l1: false })],
    });
    await a.set(s, { id: 'ck1', username: 'ck-1', level: 1 });
    for (let i = 0; i < 5; i++) await a.invalidateTags(['key:other']); // the app's counter at 5
    expect(username(await b.get('players', 'ck1'))).toBe('ck-1'); // B knows the clock at 5
    const keys = await stack.redis.keys(`${stack.keyPrefix}clock:*`);
    await stack.redis.del(...keys); // a data loss
    // B fills L2 from Postgres (its stamp what it knew: 5, or what it finds after the reset).
    expect(username(await b.get('players', 'ck1'))).toBe('ck-1');
    await renameBehind('ck1', 'ck-sql');
    await a.invalidateTags(['key:ck1']); // the counter starts again: 1
    expect(username(await b.get('players', 'ck1'))).toBe('ck-sql');
    expect(username(await a.get(s, 'ck1'))).toBe('ck-sql');
    await Promise.all([a.close(), b.close()]);
  });
});
