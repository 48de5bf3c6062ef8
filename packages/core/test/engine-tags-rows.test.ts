import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CompiledSchema,
  defineSchema,
  type InvalidationBus,
  isStrataError,
  Q,
  Strata,
} from '../src/index.js';
import type { L3Tier } from '../src/l3/types.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL3 } from './support/wrap.js';

// Tags on rows (issue 17) over the real tiers: a schema's `tags(row)` tags every cached copy of a
// row, and invalidateTags drops exactly the rows (and cached lists) with the tag, on every
// instance, while a read that began before it never caches what it read.

let stack: EngineStack;
let l3: L3Tier;
let l3Reads = 0;
/** While set, L3 reads wait for it after Postgres answered (a read "out" across another event). */
let hold: Promise<void> | undefined;
const channel = uniqueName('tags_rows_log');
const buses: InvalidationBus[] = [];

beforeAll(async () => {
  stack = await engineStack('engine_tags_rows');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
  l3 = wrapL3(stack.l3, {
    findMany: async (schema, ids) => {
      l3Reads += 1;
      const rows = await stack.l3.findMany(schema, ids);
      await hold;
      return rows;
    },
    search: (schema, query) => {
      l3Reads += 1;
      return stack.l3.search(schema, query);
    },
  });
});
// Each test is its own app (keyPrefix) on the players table: once it is done, its claim lapses, as a
// stopped app's would (docs/semantics.md, "One writer per table"), so the next may write another mode.
afterEach(() => stack.lapseClaims());
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await new Redis(testDevstack().upstash!).del(channel);
  await stack?.cleanup();
});

const tagged = (extra: Partial<Parameters<typeof defineSchema>[0]> = {}) =>
  defineSchema({
    table: stack.tables.players,
    tags: (row: { notes: string | null; level: number }) => [`region:${row.notes}`, `level:${row.level}`],
    ...extra,
  } as Parameters<typeof defineSchema>[0]);

/** An instance of one app with a log bus read before every read (pollInterval 0): deterministic. */
const instance = (schema: CompiledSchema, options: { bus?: boolean; prefix?: string } = {}) => {
  const bus =
    options.bus === false ? undefined : createUpstashLogBus({ ...testDevstack().upstash!, stream: channel });
  if (bus) buses.push(bus);
  return new Strata({
    l2: stack.l2,
    l3,
    keyPrefix: `${stack.keyPrefix}${options.prefix ?? 'r'}`,
    ttl: { l1: '10m', l2: '10m' },
    ...(bus && { coherence: { bus, pollInterval: 0 } }),
    schemas: [schema],
  });
};

const rename = (id: string, username: string) =>
  stack.db.update(stack.tables.players).set({ username }).where(eq(stack.tables.players.id, id));

describe('tags on rows', () => {
  it('invalidateTags drops the tagged rows from L1 and L2 on every instance; others stay cached', async () => {
    const s = tagged();
    const [a, b] = [instance(s), instance(s)];
    await a.setMany(s, [
      { id: 'eu1', username: 'eu-old', notes: 'eu', level: 1 },
      { id: 'us1', username: 'us-old', notes: 'us', level: 1 },
    ]);
    // B holds both in L1; L2 holds both (the writes put them there).
    expect((await b.get(s, 'eu1')).username).toBe('eu-old');
    expect((await b.get(s, 'us1')).username).toBe('us-old');
    // Postgres changes behind Strata's back; the app says which tag it touched.
    await rename('eu1', 'eu-new');
    await rename('us1', 'us-new');
    stack.reset();
    await a.invalidateTags(['region:eu']);
    expect(stack.l2Commands).toEqual(['evalsha bump-tags', expect.stringContaining('xadd')]);
    l3Reads = 0;
    expect((await b.get(s, 'eu1')).username).toBe('eu-new'); // B's L1 copy went, L2's is refused
    expect(l3Reads).toBe(1);
    expect((await b.get(s, 'us1')).username).toBe('us-old'); // another tag: still cached
    expect((await a.get(s, 'eu1')).username).toBe('eu-new');
    expect(l3Reads).toBe(1); // A's L1 copy went, and B's fill is valid for A
    // A tag shared by both rows drops both.
    await rename('eu1', 'eu-newer');
    await b.invalidateTags(['level:1']);
    expect((await a.get(s, 'us1')).username).toBe('us-new');
    expect((await a.get(s, 'eu1')).username).toBe('eu-newer');
    expect(a.stats().tagInvalidations).toBe(1);
    expect(b.stats().tagInvalidations).toBe(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('a read that began before invalidateTags caches nothing of what it read', async () => {
    const s = tagged();
    const [a, b] = [instance(s, { prefix: 'f' }), instance(s, { prefix: 'f' })];
    await a.set(s, { id: 'f1', username: 'f-old', notes: 'eu', level: 2 });
    await a.invalidate(s, 'f1'); // no cached copy anywhere: the next read goes to Postgres
    let release!: () => void;
    hold = new Promise((resolve) => {
      release = resolve;
    });
    const out = b.get(s, 'f1'); // reads 'f-old' from Postgres, then waits
    await new Promise<void>((resolve) => {
      const started = l3Reads;
      const check = () => (l3Reads > started ? resolve() : setImmediate(check));
      check();
    });
    await rename('f1', 'f-new');
    // B itself moves the tag while its read is out: it knows the move before its fill.
    await b.invalidateTags(['region:eu']);
    hold = undefined;
    release();
    expect((await out).username).toBe('f-old'); // it began before: its answer is what it read
    await b.settled();
    // Neither B's L1 nor L2 kept it as valid: both instances read the new row.
    expect((await b.get(s, 'f1')).username).toBe('f-new');
    expect((await a.get(s, 'f1')).username).toBe('f-new');
    await Promise.all([a.close(), b.close()]);
  });

  it('a write-behind row pending its flush stays through invalidateTags', async () => {
    const s = tagged({ writeMode: 'write-behind' });
    const queue = createMemoryQueue();
    const a = new Strata({
      l2: stack.l2,
      l3,
      keyPrefix: `${stack.keyPrefix}w`,
      writeBehind: { queue },
      schemas: [s],
    });
    const b = instance(tagged(), { prefix: 'w', bus: false }); // a reader: its writes would go through
    await a.set(s, { id: 'w1', username: 'queued', notes: 'eu', level: 3 });
    await a.invalidateTags(['region:eu']);
    expect((await b.get('players', 'w1')).username).toBe('queued');
    await a.flushDirty();
    expect((await b.get('players', 'w1')).username).toBe('queued');
    await Promise.all([a.close(), b.close()]);
  });

  it("a cached search list of a tagged schema goes when one of its rows' tags moves", async () => {
    const s = tagged();
    const a = instance(s, { prefix: 'q' });
    await a.setMany(s, [
      { id: 'q1', username: 'q-old', notes: 'apac', level: 40 },
      { id: 'q2', username: 'q2', notes: 'latam', level: 40 },
    ]);
    const q = Q().where('level = $1', 40).orderBy('id').build();
    l3Reads = 0;
    expect((await a.searchCached(s, q)).map((r) => r.username)).toEqual(['q-old', 'q2']);
    await a.settled();
    expect((await a.searchCached(s, q)).map((r) => r.username)).toEqual(['q-old', 'q2']);
    expect(l3Reads).toBe(1);
    await rename('q1', 'q-new');
    await a.invalidateTags(['region:latam']); // q2's tag: the list holds q2, so it goes
    expect((await a.searchCached(s, q)).map((r) => r.username)).toEqual(['q-new', 'q2']);
    expect(l3Reads).toBe(2);
    await a.settled();
    await a.invalidateTags(['region:nowhere']); // no row of the list has it: the list stays
    expect((await a.searchCached(s, q)).map((r) => r.username)).toEqual(['q-new', 'q2']);
    expect(l3Reads).toBe(2);
    await a.close();
  });

  it('tags must be a function: anything else is INVALID_MODEL', () => {
    const err = (() => {
      try {
        defineSchema({ table: stack.tables.players, tags: ['league:7'] as never });
      } catch (e) {
        return e;
      }
    })();
    expect(isStrataError(err, 'INVALID_MODEL')).toBe(true);
    expect((err as Error).message).toContain('tags must be a function');
  });

  it('bad tags from the schema: a write is VALIDATION_FAILED and changes nothing; a read is answered, not cached', async () => {
    const s = defineSchema({
      table: stack.tables.players,
      tags: (row) => (row.level < 0 ? ['has space'] : [`level:${row.level}`]),
    });
    const a = instance(s, { prefix: 'v', bus: false });
    const err = await a.set(s, { id: 'v1', username: 'v', notes: 'eu', level: -1 }).catch((e: unknown) => e);
    expect(isStrataError(err, 'VALIDATION_FAILED')).toBe(true);
    expect((err as { details: { field: string } }).details.field).toBe('tags');
    expect(
      await stack.db.select().from(stack.tables.players).where(eq(stack.tables.players.id, 'v1')),
    ).toEqual([]);
    expect(await stack.redis.keys(`${stack.keyPrefix}v:*:r:v1`)).toEqual([]);
    // A row written from outside with a bad tag: read from Postgres every time, never cached.
    await stack.db.execute(
      sql.raw(
        `insert into "${stack.name}"."players" (id, username, notes, level) values ('v2', 'v2', 'eu', -5)`,
      ),
    );
    l3Reads = 0;
    expect((await a.get(s, 'v2')).username).toBe('v2');
    await a.settled();
    expect((await a.get(s, 'v2')).username).toBe('v2');
    expect(l3Reads).toBe(2);
    await a.close();
  });

  it("after Redis lost the app's keys (a reset), tag moves still drop rows", async () => {
    const s = tagged();
    const a = instance(s, { prefix: 'z', bus: false });
    await a.set(s, { id: 'z1', username: 'z-1', notes: 'eu', level: 9 });
    for (let i = 0; i < 5; i++) await a.invalidateTags(['region:eu']); // the app's counter at 5
    expect((await a.get(s, 'z1')).username).toBe('z-1');
    // Redis loses everything of the app (a restart without persistence).
    const keys = await stack.redis.keys(`${stack.keyPrefix}z:*`);
    await stack.redis.del(...keys);
    await a.set(s, { id: 'z1', username: 'z-2', notes: 'eu', level: 9 }); // finds the reset
    expect((await a.get(s, 'z1')).username).toBe('z-2');
    await rename('z1', 'z-3');
    await a.invalidateTags(['region:eu']); // the counter starts again at 1
    expect((await a.get(s, 'z1')).username).toBe('z-3');
    await a.close();
  });

  it('without a bus, another instance refuses the L2 copy once its tag values are older than 5 s', async () => {
    const s = tagged();
    let now = Date.now();
    const clock = { now: () => now };
    const a = instance(s, { prefix: 'c', bus: false });
    const b = new Strata({
      l2: stack.l2,
      l3,
      keyPrefix: `${stack.keyPrefix}c`,
      clock,
      schemas: [tagged({ l1: false })],
    });
    await a.set(s, { id: 'c1', username: 'c-old', notes: 'eu', level: 5 });
    expect((await b.get('players', 'c1')).username).toBe('c-old');
    await rename('c1', 'c-new');
    await a.invalidateTags(['region:eu']);
    l3Reads = 0;
    // Within the trust window B still takes the L2 copy (the bound without a bus)...
    expect((await b.get('players', 'c1')).username).toBe('c-old');
    expect(l3Reads).toBe(0);
    now += 5_000;
    // ...and after it, B reads the tag again: the copy is refused.
    expect((await b.get('players', 'c1')).username).toBe('c-new');
    expect(l3Reads).toBe(1);
    await Promise.all([a.close(), b.close()]);
  });
});
