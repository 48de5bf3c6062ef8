import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { changeCapture, createDrizzleL3 } from '../src/drizzle/index.js';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

/*
 * How the capture trigger tells Strata's own writes apart (the keys an L3 with capture marks for its
 * statement; else keys whose version row this transaction wrote) must never hide two things: rows a
 * cascade changes inside Strata's statement, even in the same table, and a later statement of the
 * same transaction. Both are logged as any outside write. A mark that said only "this statement is
 * Strata's" would hide the first: Postgres puts the rows a cascade changes in the same table into
 * the outer statement's transition table, and fires its trigger once.
 */
let stack: EngineStack;
let strata: Strata;
let tree: ReturnType<typeof treeSchema>;
const treeSchema = (name: string) =>
  defineSchema({
    table: pgSchema(name).table('tree', { id: text('id').primaryKey(), parent: text('parent') }),
  });

beforeAll(async () => {
  stack = await engineStack('capture_own_writes');
  tree = treeSchema(stack.name);
  strata = new Strata({ l3: stack.l3, schemas: [tree] });
  await strata.migrate();
  // A self-referencing key: deleting a parent deletes its children, inside the same statement.
  await stack.pool.query(
    `alter table "${stack.name}".tree add foreign key (parent) references "${stack.name}".tree (id) on delete cascade`,
  );
  await strata.capture.install();
});
afterAll(async () => {
  await strata?.capture.remove();
  await strata?.close();
  await stack?.cleanup();
});

const logged = async (from: string) => {
  const page = await stack.l3.capture!.source().read(from);
  return page.changes.filter((c) => c.schema === tree.identity).map((c) => ({ op: c.op, ids: c.ids }));
};

it.each([
  ['an L3 with capture', 'p1', () => strata],
  [
    'an L3 without capture',
    'p2',
    () => new Strata({ l3: createDrizzleL3(stack.db, { migrationsSchema: stack.name }), schemas: [tree] }),
  ],
])(
  "logs nothing of Strata's statement through %s, but the children a cascade deletes inside it",
  async (_, parent, writer) => {
    await strata.set(tree, { id: parent, parent: null });
    await stack.pool.query(
      `insert into "${stack.name}".tree (id, parent) values ('${parent}c1', '${parent}'), ('${parent}c2', '${parent}')`,
    );
    const cursor = await stack.l3.capture!.source().start();
    const w = writer();
    await w.delete(tree, parent);
    if (w !== strata) await w.close();
    expect(await logged(cursor)).toEqual([{ op: 'delete', ids: [`${parent}c1`, `${parent}c2`] }]);
  },
);

/** In one transaction on `l3`'s connection: Strata writes `key`, then a raw statement runs. */
async function writeThenRaw(key: string, raw: string, marks: boolean) {
  const client = await stack.pool.connect();
  try {
    await client.query('begin');
    // Strata's write inside the caller's transaction (an L3 over that connection), then a raw one.
    const l3 = createDrizzleL3(drizzle(client), {
      migrationsSchema: stack.name,
      ...(marks && { capture: changeCapture }),
    });
    await l3.write([{ schema: tree, writes: [{ row: { id: key, parent: null } }] }]);
    await drizzle(client).execute(sql.raw(raw));
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
}

it.each([
  ['an L3 with capture', true, 't1'],
  ['an L3 without capture', false, 't3'],
])('a later statement of the transaction that wrote through %s is logged', async (_, marks, key) => {
  const cursor = await stack.l3.capture!.source().start();
  const other = `${key}-other`;
  await writeThenRaw(key, `insert into "${stack.name}".tree (id) values ('${other}')`, marks);
  expect(await logged(cursor)).toEqual([{ op: 'insert', ids: [other] }]);
});

it('a later statement that changes the same key again is logged when the L3 marks its writes', async () => {
  const cursor = await stack.l3.capture!.source().start();
  await writeThenRaw('t5', `update "${stack.name}".tree set parent = 't1' where id = 't5'`, true);
  expect(await logged(cursor)).toEqual([{ op: 'update', ids: ['t5'] }]);
  // Bumped past Strata's own version, so a copy cached from Strata's write is invalidated.
  const { rows } = await stack.pool.query(
    `select version from "${stack.name}"._strata_versions where schema = $1 and id = 't5'`,
    [tree.identity],
  );
  expect(rows).toEqual([{ version: '2' }]);
});

it('an L3 without capture cannot tell that statement from its own write of the key (the documented limit)', async () => {
  const cursor = await stack.l3.capture!.source().start();
  await writeThenRaw('t6', `update "${stack.name}".tree set parent = 't1' where id = 't6'`, false);
  expect(await logged(cursor)).toEqual([]);
});

it('over 32 keys (compared hashed, not in place) logs only the children a cascade deletes', async () => {
  const parents = Array.from({ length: 40 }, (_, i) => `q${String(i).padStart(2, '0')}`);
  await strata.setMany(
    tree,
    parents.map((id) => ({ id, parent: null })),
  );
  await stack.pool.query(
    `insert into "${stack.name}".tree (id, parent) values ('q00c', 'q00'), ('q39c', 'q39')`,
  );
  const cursor = await stack.l3.capture!.source().start();
  await strata.deleteMany(tree, parents);
  expect(await logged(cursor)).toEqual([{ op: 'delete', ids: ['q00c', 'q39c'] }]);
});

it('keys that need quoting in an array literal are still recognised as Strata’s own', async () => {
  const ids = ['a,b', 'x"y', 'NULL', 'null', '{z}', 'back\\slash', ' space ', 'ünï', "it's"];
  const cursor = await stack.l3.capture!.source().start();
  await strata.setMany(
    tree,
    ids.map((id) => ({ id, parent: null })),
  );
  for (const id of ids.slice(0, 3)) await strata.set(tree, { id, parent: null }); // single-row statements too
  await strata.deleteMany(tree, ids);
  expect(await logged(cursor)).toEqual([]);
});

it('with another app registered on the table: the cascade as an outside write, Strata’s own keys under its app', async () => {
  // A second app (keyPrefix `other`) captures the table too: installed last, unregistered after.
  await stack.l3.capture!.install([tree], 'other');
  try {
    await strata.setMany(tree, [
      { id: 'm1', parent: null },
      { id: 'm2', parent: null },
    ]);
    await stack.pool.query(`insert into "${stack.name}".tree (id, parent) values ('m1c', 'm1')`);
    const cursor = await stack.l3.capture!.source().start();
    await strata.deleteMany(tree, ['m1', 'm2']);
    const page = await stack.l3.capture!.source().read(cursor);
    const versions = await stack.pool.query(
      `select id, version::int as v from "${stack.name}"._strata_versions where schema = $1 and id in ('m1', 'm2') order by id`,
      [tree.identity],
    );
    expect(page.changes.filter((c) => c.schema === tree.identity)).toEqual([
      { schema: tree.identity, op: 'delete', ids: ['m1c'], versions: [expect.any(Number)] },
      {
        schema: tree.identity,
        op: 'delete',
        ids: ['m1', 'm2'],
        versions: versions.rows.map((r) => r.v),
        app: 'strata', // the default keyPrefix
      },
    ]);
  } finally {
    await stack.pool.query(`delete from "${stack.name}"._strata_capture_apps where app = 'other'`);
    await strata.capture.install();
  }
});
