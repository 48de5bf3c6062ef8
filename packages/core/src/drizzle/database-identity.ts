import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { rowsOf } from './rows.js';

/**
 * Which Postgres database `db` reaches: the cluster's system identifier (set at initdb, readable by
 * every role), the database name and, on Neon, the branch's timeline (branches of one project share
 * the system identifier). E.g. `pg:7714723335918688371/test`. Not a secret, and no host or user in it.
 * A session whose search_path resolves unqualified tables elsewhere than `public` (a schema per
 * tenant) adds that schema (`pg:…/test#tenant_a`): two tenants' unqualified `items` tables share a
 * name, so they must not share a keyPrefix either.
 */
export async function databaseIdentity(db: Database): Promise<string> {
  const [row] = rowsOf(
    await db.execute(
      sql.raw(
        "select (select system_identifier::text from pg_control_system()) as system, current_database() as db, current_setting('neon.timeline_id', true) as timeline, current_schema() as schema",
      ),
    ),
  );
  if (!row) throw new Error('the identity query returned no row');
  const timeline = row.timeline ? `/${String(row.timeline)}` : '';
  const schema = row.schema && row.schema !== 'public' ? `#${String(row.schema)}` : '';
  return `pg:${String(row.system)}/${String(row.db)}${timeline}${schema}`;
}
