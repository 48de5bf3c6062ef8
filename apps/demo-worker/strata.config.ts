// The `strata` CLI's view of the demo (packages/adapter-node: `strata capture install|check`, `strata
// stats`): the Worker's schemas and Postgres schema (src/env.ts). From the environment: DATABASE_URL,
// Redis (scores are write-behind) and STRATA_ENCRYPTION_KEY (players' emails are encrypted), the same
// settings as the Worker's bindings. `npm start` runs `strata capture install` with it after `db:push`.
import { DEMO_PG_SCHEMA } from './src/db/schema.js';
import { schemas } from './src/db/strata-schemas.js';

export default { schemas: [...schemas], migrationsSchema: DEMO_PG_SCHEMA };
