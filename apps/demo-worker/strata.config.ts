// The `strata` CLI's view of the demo (packages/adapter-node: `strata capture install|check`, `strata
// stats`): the Worker's schemas and Postgres schema (src/env.ts). DATABASE_URL names the database and
// STRATA_ENCRYPTION_KEY is the Worker's key (players' emails are encrypted). `npm start` runs
// `strata capture install` with this file after `db:push`.
import { DEMO_PG_SCHEMA } from './src/db/schema.js';
import { schemas } from './src/db/strata-schemas.js';

export default {
  schemas: [...schemas],
  migrationsSchema: DEMO_PG_SCHEMA,
  encryptionKey: process.env.STRATA_ENCRYPTION_KEY,
};
