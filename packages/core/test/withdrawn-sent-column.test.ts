import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rowsOf } from '../src/drizzle/rows.js';
import { defineSchema, Strata } from '../src/index.js';
import { handlesTable } from './support/dead-letter-handles.js';
import { type EngineStack, engineStack } from './support/stack.js';

// `_strata_withdrawn.sent` came after the table: a database whose table was made before it gains the
// column at the first statement that needs it (as `_strata_versions.cols`).

let stack: EngineStack;
let schema: ReturnType<typeof defineSchema>;

beforeAll(async () => {
  stack = await engineStack('wd_sent_column');
  schema = defineSchema({ table: handlesTable(stack.name) });
  await new Strata({ l3: stack.l3, schemas: [schema] }).migrate();
});
afterAll(() => stack?.cleanup());

const table = () => sql`${sql.identifier(stack.name)}."_strata_withdrawn"`;
const dropSent = () => stack.db.execute(sql`alter table ${table()} drop column sent`);
const rows = async () =>
  rowsOf(await stack.db.execute(sql`select id, version, sent from ${table()} order by id`)).map((r) => ({
    ...r,
    version: Number(r.version),
  }));

it('a table made before `sent` gains it at the first withdrawal, mark or question', async () => {
  await stack.l3.withdraw!(schema, [{ id: 'a', version: 1 }]);
  await dropSent();
  await stack.l3.withdraw!(schema, [{ id: 'b', version: 2 }]);
  expect(await rows()).toEqual([
    { id: 'a', version: 1, sent: false },
    { id: 'b', version: 2, sent: false },
  ]);
  await dropSent();
  await stack.l3.withdrawalsSent!(schema, [{ id: 'a', version: 1 }]);
  expect(await rows()).toEqual([
    { id: 'a', version: 1, sent: true },
    { id: 'b', version: 2, sent: false },
  ]);
  await dropSent();
  expect(
    await stack.l3.withdrawnAmong!(schema, [
      { id: 'a', version: 1 },
      { id: 'b', version: 2 },
    ]),
  ).toEqual([
    { id: 'a', version: 1, sent: false },
    { id: 'b', version: 2, sent: false },
  ]);
});
