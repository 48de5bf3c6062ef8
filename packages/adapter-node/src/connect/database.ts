import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/**
 * Any Drizzle Postgres database (node-postgres, neon-serverless, neon-http, …) or a transaction on
 * one: the same shape `createDrizzleL3` takes.
 */
export type Database = PgDatabase<PgQueryResultHKT, Record<string, unknown>>;

/** Which client `createStrata` opens for `databaseUrl`. */
export type Driver = 'pg' | 'neon-http' | 'neon-ws';
