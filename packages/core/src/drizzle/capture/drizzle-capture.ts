import { sql } from 'drizzle-orm';
import type { CaptureCheck, L3Capture } from '../../l3/capture.js';
import type { CompiledSchema } from '../../schema/types.js';
import type { Database } from '../database.js';
import { runDriver } from '../driver-error.js';
import { rowsOf } from '../migrations-table.js';
import type { Transactions } from '../transactions.js';
import type { VersionsTable } from '../versions-table.js';
import { type CaptureTables, captureTables } from './change-log.js';
import { checkCapture, installCapture, removeCapture } from './install.js';
import { changeSource, type DrizzleChangeSource } from './source.js';

/** What `createDrizzleL3`'s `capture` option takes: {@link changeCapture}. */
export type ChangeCapture = typeof changeCapture;

/**
 * Change capture for the Drizzle L3 (its `capture` option; the L3 calls it with its own parts).
 * Strata's tables live in `migrationsSchema`, or when it is absent in the connection's current
 * schema, read once: the triggers name them qualified, as they run on the search path of whoever writes.
 * @example
 * import { changeCapture, createDrizzleL3 } from '@strata/core/drizzle';
 * const l3 = createDrizzleL3(db, { capture: changeCapture });
 * await new Strata({ l3, schemas }).migrate({ capture: true });
 */
export function changeCapture(
  name: string,
  db: Database,
  transactions: Transactions,
  versions: VersionsTable,
  migrationsSchema: string | undefined,
): L3Capture {
  let resolved: Promise<CaptureTables> | undefined;
  const tables = () => {
    resolved ??= (async () => {
      if (migrationsSchema !== undefined) return captureTables(migrationsSchema);
      const [row] = rowsOf(await db.execute(sql`select current_schema() as "schema"`));
      return captureTables(String(row?.schema ?? 'public'));
    })();
    resolved.catch(() => {
      resolved = undefined;
    });
    return resolved;
  };
  const ctx = { db, transactions, versions, tables };
  let source: DrizzleChangeSource | undefined;
  return {
    source: () => {
      source ??= changeSource(name, db, tables);
      return source;
    },
    install: (schemas: readonly CompiledSchema[]) => runDriver(() => installCapture(ctx, schemas)),
    remove: (schemas: readonly CompiledSchema[]) => runDriver(() => removeCapture(ctx, schemas)),
    check: (schemas: readonly CompiledSchema[]): Promise<CaptureCheck[]> =>
      runDriver(() => checkCapture(ctx, schemas)),
  };
}
