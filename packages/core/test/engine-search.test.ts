import { gt } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, isStrataError, Q, Strata } from '../src/index.js';
import { INJECTION_CORPUS } from '../src/query/injection-corpus.js';
import { DRIVERS, type EngineStack, engineStack } from './support/stack.js';
import { wrapL3 } from './support/wrap.js';

describe.each(DRIVERS)('search, searchCached and count over %s', (driver) => {
  let stack: EngineStack;
  let strata: Strata;
  let schema: ReturnType<typeof playerSchema>;
  const playerSchema = () =>
    defineSchema({ table: stack.tables.players, fields: { passwordHash: { omitCache: true } } });

  beforeAll(async () => {
    stack = await engineStack(`search_${driver.replace('-', '_')}`, driver);
    schema = playerSchema();
    strata = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema] });
    await strata.migrate();
    await strata.setMany(
      schema,
      Array.from({ length: 30 }, (_, i) => ({
        id: `s${String(i).padStart(2, '0')}`,
        username: `user${i}`,
        level: i,
        profile: { region: i % 2 ? 'eu' : 'us' },
        passwordHash: `hash${i}`,
      })),
    );
  });
  afterAll(() => stack?.cleanup());

  it('searches with placeholder where text, Drizzle conditions, order, paging and projection', async () => {
    const text = await strata.search(
      schema,
      Q().where('level >= $1 AND level < $2', 10, 15).orderBy('level').desc().build(),
    );
    expect(text.map((r) => r.level)).toEqual([14, 13, 12, 11, 10]);
    expect(text[0]?.passwordHash).toBe('hash14');
    const drizzleWhere = await strata.search(
      schema,
      Q().where(gt(stack.tables.players.level, 27)).orderBy('id').build(),
    );
    expect(drizzleWhere.map((r) => r.id)).toEqual(['s28', 's29']);
    const pages = [];
    for (let offset = 0; offset < 30; offset += 7) {
      pages.push(...(await strata.search(schema, Q().orderBy('id').limit(7).offset(offset).build())));
    }
    expect(pages.map((r) => r.id)).toEqual(
      Array.from({ length: 30 }, (_, i) => `s${String(i).padStart(2, '0')}`),
    );
    const projected = await strata.search(schema, Q().where('level = $1', 3).fields('username').build());
    expect(projected).toEqual([{ username: 'user3' }]);
  });

  it('fills L1 and L2 with the full rows it found', async () => {
    const fresh = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}fill`,
      schemas: [schema],
    });
    await fresh.search(schema, Q().where('level < $1', 3).build());
    stack.reset();
    expect((await fresh.get(schema, 's01')).username).toBe('user1');
    expect(fresh.stats().hits.l1).toBe(1);
    expect(stack.statementsOn('players')).toHaveLength(0);
  });

  it('writes to L2 only the rows L1 does not already hold at their version', async () => {
    const fresh = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}again`,
      schemas: [schema],
    });
    const query = Q().where('level < $1', 4).build();
    await fresh.search(schema, query);
    stack.reset();
    expect(await fresh.search(schema, query)).toHaveLength(4);
    expect(stack.l2Requests).toHaveLength(0);
    // One more row, not in L1: one L2 write, for it.
    await fresh.search(schema, Q().where('level < $1', 5).build());
    expect(stack.l2Requests).toHaveLength(1);
  });

  it('leaves an L1 copy at the version it read as it is, and replaces an older one', async () => {
    // No omitCache field: L1 keeps whole rows, and a get hands out L1's own object.
    const whole = defineSchema({ table: stack.tables.players });
    const fresh = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}same`,
      schemas: [whole],
    });
    const query = Q().where('level = $1', 7).build();
    const row = { id: 's07', level: 7, profile: { region: 'eu' }, passwordHash: 'hash7' };
    const [first] = await fresh.search(whole, query);
    const held = await fresh.get(whole, 's07');
    expect(held).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    const [again] = await fresh.search(whole, query);
    // The same version: L1 keeps its copy (not written again); the caller gets Postgres' row, its own.
    expect(await fresh.get(whole, 's07')).toBe(held);
    expect(again).toEqual(held);
    expect(again).not.toBe(held);
    expect(Object.isFrozen(again)).toBe(false);
    try {
      // A newer version, written by another instance (no bus between them): the search takes it.
      await strata.set(schema, { ...row, username: 'user7b' });
      expect((await fresh.search(whole, query))[0]?.username).toBe('user7b');
      expect((await fresh.get(whole, 's07')).username).toBe('user7b');
      expect(fresh.stats().fencedFills).toBe(0);
    } finally {
      await strata.set(schema, { ...row, username: 'user7' });
    }
  });

  it("with background 'track', returns before its L2 fill, which settled() waits for", async () => {
    const prefix = `${stack.keyPrefix}track`;
    const fresh = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: prefix,
      schemas: [schema],
      background: 'track',
    });
    const cachedRows = async () => (await stack.redis.keys(`${prefix}:*`)).filter((k) => /:r:s\d\d$/.test(k));
    await fresh.exists(schema, 'warm-the-generation');
    stack.reset();
    expect(await fresh.search(schema, Q().where('level < $1', 3).build())).toHaveLength(3);
    // Not even sent yet: encoding and sending the fill start after the caller's task.
    expect(stack.l2Requests).toHaveLength(0);
    expect(await cachedRows()).toHaveLength(0);
    await fresh.settled();
    expect(await cachedRows()).toHaveLength(3);
  });

  it('does not fill caches from a projection, fills only L2 with forceL2, nothing with forceL3', async () => {
    const cases = [
      {
        label: 'fields',
        query: Q().where('level = $1', 4).fields('id', 'username').build(),
        l1: 0,
        l2: false,
      },
      { label: 'forceL2', query: Q().where('level = $1', 5).forceL2().build(), l1: 0, l2: true },
      { label: 'forceL3', query: Q().where('level = $1', 6).forceL3().build(), l1: 0, l2: false },
    ];
    for (const { label, query, l1, l2 } of cases) {
      const prefix = `${stack.keyPrefix}${label}`;
      const fresh = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: prefix, schemas: [schema] });
      expect(await fresh.search(schema, query)).toHaveLength(1);
      expect(fresh.stats().l1Entries, label).toBe(l1);
      const cachedRows = (await stack.redis.keys(`${prefix}:*`)).filter((k) => /:r:s\d\d$/.test(k));
      expect(cachedRows.length > 0, label).toBe(l2);
    }
  });

  it('runs search and count on the read replica when the schema has one', async () => {
    let replicaCalls = 0;
    const replica = wrapL3(stack.l3, {
      search: (s, q) => {
        replicaCalls++;
        return stack.l3.search(s, q);
      },
      count: (s, w) => {
        replicaCalls++;
        return stack.l3.count(s, w);
      },
    });
    const withReplica = defineSchema({ table: stack.tables.players, l3: { readReplica: replica } });
    const other = new Strata({ l3: stack.l3, schemas: [withReplica] });
    expect(await other.count(withReplica)).toBe(30);
    expect(await other.search(withReplica, Q().limit(3).build())).toHaveLength(3);
    expect(replicaCalls).toBe(2);
  });

  it('rejects every injection attempt in orderBy and fields without running SQL; binds it in where', async () => {
    const before = await strata.count(schema);
    stack.reset();
    for (const attack of INJECTION_CORPUS) {
      for (const build of [() => Q().orderBy(attack).build(), () => Q().fields(attack).build()]) {
        const err = await strata.search(schema, build()).catch((e: unknown) => e);
        expect(isStrataError(err, 'INVALID_QUERY'), JSON.stringify(attack)).toBe(true);
      }
    }
    expect(stack.statements).toHaveLength(0);
    for (const attack of INJECTION_CORPUS) {
      if (attack.includes('\u0000')) continue; // Postgres text cannot hold NUL: a driver error, not an injection
      expect(await strata.search(schema, Q().where('username = $1', attack).build())).toEqual([]);
    }
    expect(await strata.count(schema)).toBe(before);
  });

  it('counts with and without where', async () => {
    expect(await strata.count(schema)).toBe(30);
    expect(await strata.count(schema, Q().where('level < $1', 5).build())).toBe(5);
  });

  it('searchCached serves the list from L2 until any write to the schema', async () => {
    const query = Q().where('level >= $1', 25).orderBy('level').build();
    const first = await strata.searchCached(schema, query);
    expect(first.map((r) => r.level)).toEqual([25, 26, 27, 28, 29]);
    expect('passwordHash' in first[0]!).toBe(false);
    stack.reset();
    expect(await strata.searchCached(schema, query)).toEqual(first);
    expect(stack.statementsOn('players')).toHaveLength(0);
    expect(stack.l2Requests).toHaveLength(1);

    const writes: [string, () => Promise<unknown>, number[]][] = [
      [
        'set',
        () => strata.set(schema, { id: 'new1', username: 'new1', level: 40 }),
        [25, 26, 27, 28, 29, 40],
      ],
      ['delete', () => strata.delete(schema, 'new1'), [25, 26, 27, 28, 29]],
      [
        'setMany',
        () => strata.setMany(schema, [{ id: 'new2', username: 'new2', level: 41 }]),
        [25, 26, 27, 28, 29, 41],
      ],
      ['deleteMany', () => strata.deleteMany(schema, ['new2', 's29']), [25, 26, 27, 28]],
      [
        'tx',
        () => strata.tx().set(schema, { id: 's29', username: 'user29', level: 29 }).commit(),
        [25, 26, 27, 28, 29],
      ],
    ];
    for (const [what, write, expected] of writes) {
      await strata.searchCached(schema, query); // cached before the write
      await write();
      const after = await strata.searchCached(schema, query);
      expect(
        after.map((r) => r.level),
        what,
      ).toEqual(expected);
    }
    // Another instance sees the change too: the generation lives in L2.
    const other = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema] });
    await other.set(schema, { id: 'new3', username: 'new3', level: 42 });
    expect((await strata.searchCached(schema, query)).map((r) => r.level)).toContain(42);
    await strata.delete(schema, 'new3');
  });

  it('forceL3 skips the list cache', async () => {
    const query = Q().where('level = $1', 1).forceL3().build();
    await strata.searchCached(schema, query);
    stack.reset();
    await strata.searchCached(schema, query);
    expect(stack.l2Requests).toHaveLength(0);
  });
});
