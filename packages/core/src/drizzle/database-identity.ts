import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { rowsOf } from './rows.js';

/**
 * Which Postgres database `db` reaches: the cluster's system identifier (set at initdb, readable by
 * every role), the database name and, on Neon, the branch's timeline (branches of one project share
 * the system identifier). E.g. `pg:7714723335918688371/test`. Not a secret, and no host or user in it.
 * A session whose search_path resolves unqualified tables elsewhere than `public` alone (a schema per
 * tenant) adds its effective search_path (`current_schemas(false)`: the schemas it may use, in order):
 * `pg:…/test#tenant_a`, or `pg:…/test#shared,tenant_a` for two. Two tenants' unqualified `items`
 * tables share a name, so they must not share a keyPrefix either. The whole path, not
 * `current_schema()` alone: with `shared, tenant_a` and `shared, tenant_b` that is `shared` for both
 * while `items` resolves in each tenant's schema, and the tenants served and flushed each other's rows
 * (reliability/test/probe-tenant-paths.test.ts).
 */
export async function databaseIdentity(db: Database): Promise<string> {
  const [row] = rowsOf(
    await db.execute(
      sql.raw(
        "select (select system_identifier::text from pg_control_system()) as system, current_database() as db, current_setting('neon.timeline_id', true) as timeline, current_schemas(false)::text[] as path",
      ),
    ),
  );
  if (!row) throw new Error('the identity query returned no row');
  const timeline = row.timeline ? `/${String(row.timeline)}` : '';
  return `pg:${String(row.system)}/${String(row.db)}${timeline}${pathSuffix(schemasOf(row.path))}`;
}

/** `#` and the schemas ('%' and ',' of a name percent-encoded when there are several), or '' for `public` alone or none. */
function pathSuffix(path: string[]): string {
  if (path.length === 0 || (path.length === 1 && path[0] === 'public')) return '';
  // One schema keeps its name as it is: the identity `#tenant_a` it always had.
  if (path.length === 1) return `#${path[0]}`;
  return `#${path.map((s) => s.replaceAll('%', '%25').replaceAll(',', '%2C')).join(',')}`;
}

/** A text[] as the driver hands it: an array (node-postgres, Neon) or Postgres' array literal (`{a,"b c"}`). */
function schemasOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== 'string' || value.length < 2) return [];
  const out: string[] = [];
  // Postgres quotes an element holding `,`, `"`, `\`, braces or spaces, and escapes `"` and `\` inside.
  for (const m of value.slice(1, -1).matchAll(/"((?:[^"\\]|\\.)*)"|([^,]+)/g))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}
