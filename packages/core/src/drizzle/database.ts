import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/**
 * Any Drizzle Postgres database (node-postgres, neon-serverless, neon-http, pglite, …) or a
 * transaction on one: the L3 tier only uses what they all share. What `createDrizzleL3` takes.
 * @example
 * function strataOver(db: Database): Strata {
 *   return new Strata({ l3: createDrizzleL3(db), schemas: [playerSchema] });
 * }
 */
export type Database = PgDatabase<PgQueryResultHKT, Record<string, unknown>>;
