import { defineConfig } from 'drizzle-kit';

// `npm run db:push` (scripts/db-push.mjs) runs drizzle-kit with this file. The tables are unqualified,
// so they live in `public`, drizzle-kit's default schema filter; tests isolate themselves with a
// throwaway database through DATABASE_URL rather than a Postgres schema, so the schema file stays
// exactly what the demo deploys.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
});
