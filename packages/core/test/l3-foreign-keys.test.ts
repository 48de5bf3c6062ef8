import { type AnyPgColumn, integer, type PgTable, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// migrate() creates the foreign keys a table declares (`.references(…)`, with its actions), once,
// after every table they name exists: registered in either order, self-references and cycles too.
let stack: EngineStack;
beforeAll(async () => {
  stack = await engineStack('l3_foreign_keys');
});
afterAll(async () => {
  await stack?.cleanup();
});

/** A Strata over this suite's L3 with a schema per table, in the order given. */
const strataOver = (...tables: PgTable[]) =>
  new Strata({ l3: stack.l3, schemas: tables.map((table) => defineSchema({ table })) });

/** The foreign keys Postgres has on `table` of this suite's schema: name, definition. */
async function foreignKeys(table: string): Promise<string[]> {
  const { rows } = await stack.pool.query(
    `select conname || ': ' || pg_get_constraintdef(oid) as fk from pg_constraint
     where contype = 'f' and conrelid = $1::regclass order by conname`,
    [`"${stack.name}"."${table}"`],
  );
  return rows.map((r: { fk: string }) => r.fk);
}

it('creates a self-referencing key with its ON DELETE CASCADE, and Strata deletes cascade', async () => {
  const s = pgSchema(stack.name);
  const tree = s.table('tree', {
    id: text('id').primaryKey(),
    parent: text('parent').references((): never => tree.id as never, { onDelete: 'cascade' }),
  });
  const schema = defineSchema({ table: tree });
  const strata = new Strata({ l3: stack.l3, schemas: [schema] });
  await strata.migrate();
  expect(await foreignKeys('tree')).toEqual([
    `tree_parent_tree_id_fk: FOREIGN KEY (parent) REFERENCES ${stack.name}.tree(id) ON DELETE CASCADE`,
  ]);
  await strata.set(schema, { id: 'p', parent: null });
  await strata.set(schema, { id: 'c', parent: 'p' });
  await strata.delete(schema, 'p');
  const { rows } = await stack.pool.query(`select id from "${stack.name}".tree`);
  expect(rows).toEqual([]);
  expect((await strata.migrate()).applied).toEqual([]); // nothing left to do
  await strata.close();
});

it('a table registered before the one it references is created first, its key after both', async () => {
  const s = pgSchema(stack.name);
  const leagues = s.table('leagues', { id: text('id').primaryKey() });
  const teams = s.table('teams', {
    id: text('id').primaryKey(),
    league: text('league')
      .notNull()
      .references(() => leagues.id, { onDelete: 'restrict', onUpdate: 'cascade' }),
    rank: integer('rank'),
  });
  const strata = strataOver(teams, leagues);
  await strata.migrate();
  expect(await foreignKeys('teams')).toEqual([
    `teams_league_leagues_id_fk: FOREIGN KEY (league) REFERENCES ${stack.name}.leagues(id) ON UPDATE CASCADE ON DELETE RESTRICT`,
  ]);
  await strata.close();
});

it('adds a missing key to a table that exists, and only that', async () => {
  await stack.pool.query(
    `create table "${stack.name}".owners (id text primary key); create table "${stack.name}".pets (id text primary key, owner text)`,
  );
  const s = pgSchema(stack.name);
  const owners = s.table('owners', { id: text('id').primaryKey() });
  const pets = s.table('pets', {
    id: text('id').primaryKey(),
    owner: text('owner').references(() => owners.id),
  });
  const strata = strataOver(pets);
  const result = await strata.migrate();
  expect(result.applied).toEqual([
    `ALTER TABLE "${stack.name}"."pets" ADD CONSTRAINT "pets_owner_owners_id_fk" FOREIGN KEY ("owner") REFERENCES "${stack.name}"."owners" ("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
  ]);
  expect(await foreignKeys('pets')).toEqual([
    `pets_owner_owners_id_fk: FOREIGN KEY (owner) REFERENCES ${stack.name}.owners(id)`,
  ]);
  await strata.close();
});

it('a key to a table that neither exists nor is registered is INVALID_MODEL, and nothing is created', async () => {
  const s = pgSchema(stack.name);
  const ghosts = s.table('ghosts', { id: text('id').primaryKey() });
  const haunts = s.table('haunts', {
    id: text('id').primaryKey(),
    ghost: text('ghost').references(() => ghosts.id),
  });
  const strata = strataOver(haunts);
  const err = await strata.migrate().catch((e: unknown) => e);
  expect(isStrataError(err, 'INVALID_MODEL')).toBe(true);
  expect(String(err)).toContain('foreign key haunts_ghost_ghosts_id_fk references ghosts');
  const { rows } = await stack.pool.query(`select to_regclass($1) as t`, [`"${stack.name}".haunts`]);
  expect(rows).toEqual([{ t: null }]);
  await strata.close();
});

it('a key the rows already break fails the migration, and nothing of it stays', async () => {
  await stack.pool.query(
    `create table "${stack.name}".authors (id text primary key);
     create table "${stack.name}".books (id text primary key, author text);
     insert into "${stack.name}".books values ('b1', 'nobody')`,
  );
  const s = pgSchema(stack.name);
  const authors = s.table('authors', { id: text('id').primaryKey() });
  const books = s.table('books', {
    id: text('id').primaryKey(),
    author: text('author').references(() => authors.id),
    title: text('title'),
  });
  const strata = strataOver(books);
  const err = await strata.migrate().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  expect(String((err as { cause?: unknown }).cause ?? err)).toMatch(/foreign key/i);
  expect(await foreignKeys('books')).toEqual([]);
  const { rows } = await stack.pool.query(
    `select column_name from information_schema.columns where table_schema = $1 and table_name = 'books' order by 1`,
    [stack.name],
  );
  expect(rows.map((r: { column_name: string }) => r.column_name)).toEqual(['author', 'id']); // no title
  await strata.close();
});

it('two new tables that reference each other (a cycle): both keys added after both tables', async () => {
  const s = pgSchema(stack.name);
  const hens = s.table('hens', {
    id: text('id').primaryKey(),
    egg: text('egg').references((): AnyPgColumn => eggs.id),
  });
  const eggs = s.table('eggs', {
    id: text('id').primaryKey(),
    hen: text('hen').references((): AnyPgColumn => hens.id),
  });
  const strata = strataOver(hens, eggs);
  await strata.migrate();
  expect(await foreignKeys('hens')).toEqual([
    `hens_egg_eggs_id_fk: FOREIGN KEY (egg) REFERENCES ${stack.name}.eggs(id)`,
  ]);
  expect(await foreignKeys('eggs')).toEqual([
    `eggs_hen_hens_id_fk: FOREIGN KEY (hen) REFERENCES ${stack.name}.hens(id)`,
  ]);
  await strata.close();
});
