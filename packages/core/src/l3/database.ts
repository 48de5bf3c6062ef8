import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/**
 * Any Drizzle Postgres database (node-postgres, neon-serverless, neon-http, pglite, …) or a
 * transaction on one: the L3 tier only uses what they all share.
 */
export type Database = PgDatabase<PgQueryResultHKT, Record<string, unknown>>;
