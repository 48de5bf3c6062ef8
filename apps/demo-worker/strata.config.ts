// The `strata` CLI's view of the demo (packages/adapter-node: `strata capture install|check`, `strata
// stats`): the Worker's schemas and Postgres schema (src/env.ts). From the environment: DATABASE_URL,
// Redis (scores are write-behind) and STRATA_ENCRYPTION_KEY (players' emails are encrypted), the same
// settings as the Worker's bindings. `npm start` runs `strata capture install` with it after `db:push`.
import { DEMO_PG_SCHEMA } from './src/db/schema.js';
import { schemas } from './src/db/strata-schemas.js';

// The app's keyPrefix too: `capture install` registers the app under it, and the Worker checks the
// registration under its own (STRATA_KEY_PREFIX), so they must be the same or the Worker reports
// capture `notInstalled` and the trigger logs the demo's own writes as another app's.
const keyPrefix = process.env.STRATA_KEY_PREFIX;

export default {
  schemas: [...schemas],
  migrationsSchema: DEMO_PG_SCHEMA,
  ...(keyPrefix ? { keyPrefix } : {}),
};
