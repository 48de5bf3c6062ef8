import { uniqueName } from '@strata/devstack/testing';
import { eq, sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

/** One shape for every table here: same columns, so only the identity tells them apart. */
const columns = () => ({
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  level: integer('level').notNull(),
});

let stack: EngineStack;
let otherPg: string;
let tenantA: ReturnType<typeof tables>;
let tenantB: ReturnType<typeof tables>;

function tables(pg: string) {
  const s = pgSchema(pg);
  return {
    players: s.table('players', columns()),
    cats: s.table('cats', columns()),
    dogs: s.table('dogs', columns()),
  };
}

beforeAll(async () => {
  stack = await engineStack('reg_isolation');
  otherPg = uniqueName('reg_isolation_b');
  tenantA = tables(stack.name);
  tenantB = tables(otherPg);
  const all = [tenantA.players, tenantA.cats, tenantA.dogs, tenantB.players];
  for (const table of all) await new Strata({ l3: stack.l3, schemas: [defineSchema({ table })] }).migrate();
});
afterAll(async () => {
  await stack?.db.execute(sql.raw(`drop schema if exists "${otherPg}" cascade`));
  await stack?.cleanup();
});

/** An app: its own Strata over the shared L2 (same root key prefix) and Postgres. */
const app = (...schemas: Parameters<Strata['register']>[0][]) =>
  new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas });

describe('tenant and app isolation', () => {
  it('issue 12 item 1: two `players` tables in two Postgres schemas never share cached rows', async () => {
    // Both registered under the Strata schema name 'players', by two apps with the same keyPrefix.
    const a = defineSchema({ table: tenantA.players, name: 'players' });
    const b = defineSchema({ table: tenantB.players, name: 'players' });
    const appA = app(a);
    const appB = app(b);
    await appA.set(a, { id: 'p1', name: 'alice of A', level: 1 });
    expect(await appB.find(b, 'p1')).toBeNull();
    expect(await app(b).find(b, 'p1')).toBeNull();

    await appB.set(b, { id: 'p1', name: 'bob of B', level: 2 });
    expect(await appB.get(b, 'p1')).toEqual({ id: 'p1', name: 'bob of B', level: 2 });
    expect(await appA.get(a, 'p1')).toEqual({ id: 'p1', name: 'alice of A', level: 1 });
    // Fresh instances read L2: each tenant's own row.
    expect(await app(a).get(a, 'p1')).toEqual({ id: 'p1', name: 'alice of A', level: 1 });
    expect(await app(b).get(b, 'p1')).toEqual({ id: 'p1', name: 'bob of B', level: 2 });
    const [inA] = await stack.db.select().from(tenantA.players).where(eq(tenantA.players.id, 'p1'));
    expect(inA?.name).toBe('alice of A');

    // Two L2 keys for p1, one under each qualified table.
    const keys = (await stack.rawL2Keys()).filter((k) => k.endsWith(':p1'));
    expect(keys).toHaveLength(2);
    expect(keys.filter((k) => k.includes(`:${stack.name}.players:`))).toHaveLength(1);
    expect(keys.filter((k) => k.includes(`:${otherPg}.players:`))).toHaveLength(1);
  });

  it('issue 12 item 3: an invalid l2.keyPrefix is refused (INVALID_MODEL)', () => {
    for (const keyPrefix of ['two words', 'a:b', '', 'x'.repeat(65), 'ключ']) {
      let err: unknown;
      try {
        defineSchema({ table: tenantA.cats, l2: { keyPrefix } });
      } catch (e) {
        err = e;
      }
      expect(isStrataError(err, 'INVALID_MODEL'), `keyPrefix ${JSON.stringify(keyPrefix)}`).toBe(true);
    }
  });

  it('issue 12 item 3: two tables given one l2.keyPrefix in two apps never read each other’s rows', async () => {
    const cats = defineSchema({ table: tenantA.cats, l2: { keyPrefix: 'pets' } });
    const dogs = defineSchema({ table: tenantA.dogs, l2: { keyPrefix: 'pets' } });
    const catApp = app(cats);
    const dogApp = app(dogs);
    await catApp.set(cats, { id: 'x', name: 'tom the cat', level: 1 });
    // The dog x exists only in Postgres; L2 holds the cat x under the very key the dog app reads.
    await stack.db.insert(tenantA.dogs).values({ id: 'x', name: 'rex the dog', level: 9 });
    const shared = (await stack.rawL2Keys()).filter((k) => k.includes(':pets:') && k.endsWith(':x'));
    expect(shared).toHaveLength(1);

    expect(await dogApp.get(dogs, 'x')).toEqual({ id: 'x', name: 'rex the dog', level: 9 });
    // The cat's entry was refused (its owner tag names another table), and the dog read from Postgres.
    expect(dogApp.stats().errorsBy.l2).toBeGreaterThanOrEqual(1);
    expect(dogApp.stats().hits.l3).toBe(1);
    // Whatever the dog app's read left in L2, the cat app never gets a dog.
    expect(await app(cats).get(cats, 'x')).toEqual({ id: 'x', name: 'tom the cat', level: 1 });
    expect(await app(dogs).get(dogs, 'x')).toEqual({ id: 'x', name: 'rex the dog', level: 9 });
    expect(await catApp.get(cats, 'x')).toEqual({ id: 'x', name: 'tom the cat', level: 1 });
  });

  it('issue 12 item 3: one l2.keyPrefix on two schemas of one instance is refused at register (SCHEMA_DUPLICATE)', () => {
    const cats = defineSchema({ table: tenantA.cats, l2: { keyPrefix: 'pets' } });
    const dogs = defineSchema({ table: tenantA.dogs, l2: { keyPrefix: 'pets' } });
    let err: unknown;
    try {
      app(cats, dogs);
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'SCHEMA_DUPLICATE')).toBe(true);
    // And by register() on a running instance.
    const one = app(cats);
    expect(() => one.register(dogs)).toThrow(expect.objectContaining({ code: 'SCHEMA_DUPLICATE' }));
  });
});
