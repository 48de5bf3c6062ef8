import { type SQL, sql } from 'drizzle-orm';
import { besideVersions, type VersionsTable, withSchemaCreated } from './versions-table.js';

const WITHDRAWN_TABLE = '_strata_withdrawn';

export const withdrawnName = (versions: VersionsTable) => besideVersions(versions, WITHDRAWN_TABLE);

/**
 * CREATE SCHEMA / TABLE IF NOT EXISTS for `_strata_withdrawn` (beside `_strata_versions`): per table
 * identity and key, the versions of Redis-ordered writes that will never be applied (a dead letter:
 * see `L3Tier.withdraw`). In Postgres because Redis cannot keep it: a Redis gone back to an older
 * snapshot brings back such a write's pending row, its pending-index entry and, with the Redis
 * Stream queue on it, its message. Made with `_strata_versions` (its statements reference both)
 * and by migrate(). `sent`: its dead letter is known sent (see `markWithdrawalsSent`); until then no
 * cleanup removes it, since its message may be delivered again (added to a table made before it).
 */
export function withdrawnTableStatements(versions: VersionsTable): string[] {
  const { schema, name } = withdrawnName(versions);
  return withSchemaCreated(schema, [
    `CREATE TABLE IF NOT EXISTS ${name} (schema text NOT NULL, id text NOT NULL, version bigint NOT NULL, sent boolean NOT NULL DEFAULT false, PRIMARY KEY (schema, id, version))`,
    `ALTER TABLE ${name} ADD COLUMN IF NOT EXISTS sent boolean NOT NULL DEFAULT false`,
  ]);
}

/**
 * A condition: `_strata_withdrawn` holds a version of key `id` (text) of table `identity` from
 * `from` to `to` (one version where `to` is left out). Folded into the statements that lay or apply
 * pending writes, so they pay no round trip for it.
 */
export function withdrawnAt(
  versions: VersionsTable,
  identity: SQL | string,
  id: SQL,
  from: SQL,
  to = from,
): SQL {
  const w = sql.raw(withdrawnName(versions).name);
  return sql`exists (select 1 from ${w} as "_strata_wd" where "_strata_wd".schema = ${identity} and "_strata_wd".id = ${id} and "_strata_wd".version between ${from} and ${to})`;
}
