import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, isStrataError, Q, Strata } from '../src/index.js';
import type { L3Tier } from '../src/l3/types.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL3 } from './support/wrap.js';

// Tagged cached searches over the real tiers: invalidateTags drops every list with the tag, on every
// instance, in one L2 request; other lists stay cached.

let stack: EngineStack;
let searches = 0;
let l3: L3Tier;

beforeAll(async () => {
  stack = await engineStack('engine_tags');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
  l3 = wrapL3(stack.l3, {
    search: (schema, query) => {
      searches += 1;
      return stack.l3.search(schema, query);
    },
  });
});
afterAll(() => stack?.cleanup());

const schema = () => defineSchema({ table: stack.tables.players });
const instance = (s = schema()) =>
  new Strata({ l2: stack.l2, l3, keyPrefix: `${stack.keyPrefix}t`, schemas: [s] });

describe('invalidateTags', () => {
  it('drops every list with the tag on every instance in one request; other lists stay', async () => {
    const s = schema();
    const [a, b] = [instance(s), instance(s)];
    await a.setMany(s, [
      { id: 't1', username: 'tag-one', level: 7 },
      { id: 't2', username: 'tag-two', level: 8 },
    ]);
    const league7 = Q().where('level = $1', 7).tags('league:7', 'season:1').build();
    const league8 = Q().where('level = $1', 8).tags('league:8').build();
    searches = 0;
    expect((await a.searchCached(s, league7)).map((r) => r.id)).toEqual(['t1']);
    expect((await a.searchCached(s, league8)).map((r) => r.id)).toEqual(['t2']);
    await a.settled();
    expect(searches).toBe(2);
    // B reads both lists from L2.
    expect((await b.searchCached(s, league7)).map((r) => r.id)).toEqual(['t1']);
    expect((await b.searchCached(s, league8)).map((r) => r.id)).toEqual(['t2']);
    expect(searches).toBe(2);
    // Then one request each (A's first read put the tags, read missing, at the tag clock: one
    // READ_TAGS more, once per tag, not per read; see engine/list-tags.ts).
    stack.reset();
    await b.searchCached(s, league7);
    await b.searchCached(s, league8);
    expect(stack.l2Requests).toHaveLength(2);

    stack.reset();
    await a.invalidateTags(['league:7', 'league:99', 'league:7']);
    expect(stack.l2Requests).toHaveLength(1);
    // The tag took the clock's next tick, in the clock's random epoch (see l2/tag-epoch.ts).
    const clock = Number(await stack.redis.get(`${stack.keyPrefix}t:tagclock`));
    expect(clock).toBeGreaterThanOrEqual(2 ** 52);
    expect(await stack.redis.get(`${stack.keyPrefix}t:tag:league:7`)).toBe(String(clock));
    expect(a.stats().tagInvalidations).toBe(2);

    // The league:7 list is gone for B too; league:8 is still cached.
    expect((await b.searchCached(s, league7)).map((r) => r.id)).toEqual(['t1']);
    expect(searches).toBe(3);
    expect((await b.searchCached(s, league8)).map((r) => r.id)).toEqual(['t2']);
    expect(searches).toBe(3);
    // Refilled under the new generation: cached again.
    await b.settled();
    expect((await a.searchCached(s, league7)).map((r) => r.id)).toEqual(['t1']);
    expect(searches).toBe(3);
    // A second tag of the same list drops it as well.
    await b.invalidateTags(['season:1']);
    expect((await a.searchCached(s, league7)).map((r) => r.id)).toEqual(['t1']);
    expect(searches).toBe(4);
    await Promise.all([a.close(), b.close()]);
  });

  it('the same query under other tags is another list', async () => {
    const s = schema();
    const a = instance(s);
    const base = Q().where('level = $1', 7);
    searches = 0;
    await a.searchCached(s, base.tags('x:1').build());
    await a.settled();
    await a.searchCached(s, base.build());
    await a.settled();
    expect(searches).toBe(2);
    await a.invalidateTags(['x:1']);
    await a.searchCached(s, base.build());
    expect(searches).toBe(2); // the untagged list is not dropped by x:1
    await a.close();
  });

  it('tags are per app: two apps on one Redis share no tag; an app’s tag spans its Postgres schemas', async () => {
    const other = await engineStack('engine_tags_b'); // the same table name in another Postgres schema
    try {
      await new Strata({ l3: other.l3, schemas: [defineSchema({ table: other.tables.players })] }).migrate();
      const mine = schema();
      const theirs = defineSchema({ table: other.tables.players, name: 'players_b' });
      const appA = new Strata({
        l2: stack.l2,
        l3,
        keyPrefix: `${stack.keyPrefix}ta`,
        schemas: [mine, theirs],
      });
      const appB = new Strata({ l2: stack.l2, l3, keyPrefix: `${stack.keyPrefix}tb`, schemas: [mine] });
      const q = Q().where('level = $1', 7).tags('league:7').build();
      searches = 0;
      for (const [app, s] of [
        [appA, mine],
        [appA, theirs],
        [appB, mine],
      ] as const) {
        await app.searchCached(s, q);
        await app.settled();
      }
      expect(searches).toBe(3);
      // B's tag: its own key, put at B's tag clock when its list was read (a tag read missing is
      // taken as moved then, see engine/list-tags.ts); A's move leaves it as it is.
      const theirTag = await stack.redis.get(`${stack.keyPrefix}tb:tag:league:7`);
      expect(Number(theirTag)).toBeGreaterThanOrEqual(2 ** 52);
      await appA.invalidateTags(['league:7']);
      // App A's lists in both of its Postgres schemas go; app B's list with the same tag stays.
      await appB.searchCached(mine, q);
      expect(searches).toBe(3);
      await appA.searchCached(mine, q);
      await appA.searchCached(theirs, q);
      expect(searches).toBe(5);
      expect(await stack.redis.get(`${stack.keyPrefix}tb:tag:league:7`)).toBe(theirTag);
      await Promise.all([appA.close(), appB.close()]);
    } finally {
      await other.cleanup();
    }
  });

  it('a bad tag is INVALID_QUERY naming it, and changes nothing', async () => {
    const a = instance();
    expect(() => Q().tags('has space')).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }));
    for (const bad of ['', 'x'.repeat(129), 'tab\there', 7 as unknown as string]) {
      const err = await a.invalidateTags([bad]).catch((e: unknown) => e);
      expect(isStrataError(err, 'INVALID_QUERY')).toBe(true);
      expect((err as { details: { field: string } }).details.field).toBe('tags');
    }
    const many = Array.from({ length: 33 }, (_, i) => `t:${i}`);
    expect(isStrataError(await a.invalidateTags(many).catch((e: unknown) => e), 'INVALID_QUERY')).toBe(true);
    // A hand-made query object is checked too.
    const handMade = { ...Q().build(), tags: ['bad tag'] };
    expect(
      isStrataError(await a.searchCached('players', handMade).catch((e: unknown) => e), 'INVALID_QUERY'),
    ).toBe(true);
    expect(await stack.redis.keys(`${stack.keyPrefix}t:tag:*`)).not.toContain(`${stack.keyPrefix}t:tag:`);
    expect(a.stats().tagInvalidations).toBe(0);
    await a.close();
  });
});
