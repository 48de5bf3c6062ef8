import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/index.js';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

/*
 * How the capture trigger tells Strata's own writes apart (keys whose version row this transaction
 * wrote) must never hide two things: rows a cascade changes inside Strata's statement, even in the
 * same table, and a later statement of the same transaction. Both are logged as any outside write.
 * A statement-level "this is Strata's" mark would hide the first: Postgres puts the rows a cascade
 * changes in the same table into the outer statement's transition table, and fires its trigger once.
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

it("logs nothing of Strata's statement, but the children a cascade deletes inside it", async () => {
  await strata.set(tree, { id: 'p1', parent: null });
  await stack.pool.query(`insert into "${stack.name}".tree (id, parent) values ('c1', 'p1'), ('c2', 'p1')`);
  const cursor = await stack.l3.capture!.source().start();
  await strata.delete(tree, 'p1');
  expect(await logged(cursor)).toEqual([{ op: 'delete', ids: ['c1', 'c2'] }]);
});

it('a later statement of the transaction that wrote through Strata is logged', async () => {
  const cursor = await stack.l3.capture!.source().start();
  const client = await stack.pool.connect();
  try {
    await client.query('begin');
    // Strata's write inside the caller's transaction (an L3 over that connection), then a raw one.
    const l3 = createDrizzleL3(drizzle(client), { migrationsSchema: stack.name });
    await l3.write([{ schema: tree, writes: [{ row: { id: 't1', parent: null } }] }]);
    await drizzle(client).execute(sql.raw(`insert into "${stack.name}".tree (id) values ('t2')`));
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
  expect(await logged(cursor)).toEqual([{ op: 'insert', ids: ['t2'] }]);
});
