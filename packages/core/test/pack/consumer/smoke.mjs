// Run inside a fresh project with the packed tarballs installed: what a user's first script does.
// Prints one JSON line: the export names of each entry point named on the command line, and a row
// written and read back through Strata on PGlite (a real Postgres, in process).
import { PGlite } from '@electric-sql/pglite';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/pglite';

const loaded = {};
for (const specifier of process.argv.slice(2))
  loaded[specifier] = Object.keys(await import(specifier)).sort();

const players = pgTable('players', { id: text('id').primaryKey(), level: integer('level').notNull() });
const playerSchema = defineSchema({ table: players });
const pg = new PGlite();
const strata = new Strata({ l3: createDrizzleL3(drizzle(pg)), schemas: [playerSchema] });
try {
  await strata.migrate();
  await strata.set(playerSchema, { id: 'p1', level: 3 });
  const row = await strata.get(playerSchema, 'p1');
  const stored = (await pg.query('select id, level from players')).rows;
  const migrations = (await pg.query('select count(*)::int as n from _strata_migrations')).rows[0].n;
  console.log(JSON.stringify({ exports: loaded, row, stored, migrations }));
} finally {
  await strata.close();
  await pg.close();
}
