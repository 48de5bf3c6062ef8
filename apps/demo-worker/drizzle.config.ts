import { defineConfig } from 'drizzle-kit';

// `npm run db:push` (scripts/db-push.mjs) runs drizzle-kit with this file. drizzle-kit push makes the
// filtered part of the database equal to the schema file, dropping whatever else it finds there, so:
// - schemaFilter: only the demo's Postgres schema is diffed; tables of other apps in `public` (or
//   anywhere else) are never looked at;
// - tablesFilter: Strata's own `_strata_migrations` / `_strata_versions` / `_strata_writers` (and
//   capture's `_strata_changes…`), which the demo keeps in the same schema, are not in the schema file
//   and must not be dropped (the README's drizzle-kit section).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  schemaFilter: ['strata_demo'],
  tablesFilter: ['!_strata_*'],
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
});
