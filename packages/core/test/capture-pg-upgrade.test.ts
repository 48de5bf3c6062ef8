import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

/*
 * A change log made by the first version of capture had a bigserial key, whose sequence
 * `drizzle-kit push` then tried to drop (it manages every sequence of the schemas it is given), so
 * every push of the app's tables failed. Install brings such a log to the current shape, rows kept.
 */
let stack: EngineStack;
beforeAll(async () => {
  stack = await engineStack('capture_upgrade');
});
afterAll(async () => {
  await stack?.cleanup();
});

it('install upgrades a log with a sequence: no sequence left, key (xid, seq), old entries kept and read', async () => {
  const q = (text: string) => stack.pool.query(text);
  const changes = `"${stack.name}"."_strata_changes"`;
  await q(`create schema if not exists "${stack.name}"`);
  await q(
    `create table ${changes} ("seq" bigserial primary key, "xid" xid8 not null default pg_current_xact_id(), "schema" text not null, "op" text not null, "ids" text[], "versions" bigint[], "created_at" timestamptz not null default now())`,
  );
  await q(`create index "_strata_changes_xid" on ${changes} ("xid", "seq")`);
  await q(
    `insert into ${changes} ("schema", "op", "ids", "versions") values ('old', 'update', '{a}', '{2}')`,
  );

  const players = defineSchema({ table: stack.tables.players });
  const strata = new Strata({ l3: stack.l3, schemas: [players] });
  try {
    await strata.migrate({ capture: true });
    await strata.capture.install(); // twice: the upgrade is done once, the second install changes nothing
    const sequences = await q(
      `select sequence_name from information_schema.sequences where sequence_schema = '${stack.name}'`,
    );
    expect(sequences.rows).toEqual([]);
    const key = await q(
      `select array_agg(a.attname::text order by k.n) as cols from pg_constraint c, unnest(c.conkey) with ordinality k(attnum, n), pg_attribute a
        where c.conrelid = '${changes}'::regclass and c.contype = 'p' and a.attrelid = c.conrelid and a.attnum = k.attnum`,
    );
    expect(key.rows[0].cols).toEqual(['xid', 'seq']);
    // Two statements in one transaction: seq 1 and 2 of that transaction; the old entry still reads.
    await q(
      `begin; update "${stack.name}".players set level = 2 where false; insert into "${stack.name}".players (id, username) values ('u1', 'u1'); insert into "${stack.name}".players (id, username) values ('u2', 'u2'); commit`,
    );
    const page = await stack.l3.capture!.source().read('1');
    expect(page.changes.filter((c) => c.schema === 'old')).toEqual([
      { schema: 'old', op: 'update', ids: ['a'], versions: [2] },
    ]);
    expect(page.changes.filter((c) => c.schema === players.identity).map((c) => c.ids)).toEqual([
      ['u1'],
      ['u2'],
    ]);
    const seqs = await q(`select seq from ${changes} where schema = '${players.identity}' order by seq`);
    expect(seqs.rows.map((r) => Number(r.seq))).toEqual([1, 2]);
    expect((await strata.capture.check()).every((c) => c.installed)).toBe(true);
    // The log gained `app` (null for the entries it had: outside writes), and the apps registry.
    const app = await q(`select app from ${changes} where schema = 'old'`);
    expect(app.rows).toEqual([{ app: null }]);
    const apps = await q(`select schema, app from "${stack.name}"."_strata_capture_apps"`);
    expect(apps.rows).toEqual([{ schema: players.identity, app: 'strata' }]);
  } finally {
    await strata.capture.remove();
    await strata.close();
  }
});
