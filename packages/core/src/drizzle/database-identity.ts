import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { rowsOf } from './rows.js';

/**
 * Which Postgres database `db` reaches: the cluster's system identifier (set at initdb, readable by
 * every role), the database name and, on Neon, the branch's timeline (branches of one project share
 * the system identifier). E.g. `pg:7714723335918688371/test`. Not a secret, and no host or user in it.
 * A session whose search_path resolves unqualified tables elsewhere than `public` alone (a schema per
 * tenant) adds its effective search_path (`current_schemas(false)`: the schemas it may use, in order):
 * `pg:…/test#tenant_a`, or `pg:…/test#{shared,tenant_a}` for two. Two tenants' unqualified `items`
 * tables share a name, so they must not share a keyPrefix either. The whole path, not
 * `current_schema()` alone: with `shared, tenant_a` and `shared, tenant_b` that is `shared` for both
 * while `items` resolves in each tenant's schema, and the tenants served and flushed each other's rows
 * (reliability/test/regression-tenant-paths.test.ts).
 */
export async function databaseIdentity(db: Database): Promise<string> {
  const [row] = rowsOf(await db.execute(sql.raw(IDENTITY_QUERY)));
  if (!row) throw new Error('the identity query returned no row');
  const timeline = row.timeline ? `/${String(row.timeline)}` : '';
  const path = row.path ? String(row.path) : '';
  return `pg:${String(row.system)}/${String(row.db)}${timeline}${path && path !== 'public' ? `#${path}` : ''}`;
}

/**
 * The search_path part: one schema as its name (the `#tenant_a` it always was); several as Postgres
 * prints the array (`{shared,tenant_a}`, a name holding `,`, `"` or braces quoted: one to one).
 */
const PATH =
  '(select case when cardinality(p)<2 then p[1] else p::text end from (select current_schemas(false) p) c)';

const IDENTITY_QUERY = `select (select system_identifier::text from pg_control_system()) as system, current_database() as db, current_setting('neon.timeline_id', true) as timeline, ${PATH} as path`;
