import { sql } from 'drizzle-orm';
import { type Duration, toMs } from '../../duration.js';
import type { CaptureCheck, L3Capture } from '../../l3/capture.js';
import type { CompiledSchema } from '../../schema/types.js';
import type { Database } from '../database.js';
import { runDriver } from '../driver-error.js';
import { rowsOf } from '../rows.js';
import type { Transactions } from '../transactions.js';
import type { VersionsTable } from '../versions-table.js';
import { type CaptureTables, captureTables } from './change-log.js';
import { checkCapture, installCapture, removeCapture } from './install.js';
import { type OwnWritesMark, ownWritesMark } from './own-writes.js';
import { changeSource, type DrizzleChangeSource } from './source.js';

/**
 * The Drizzle L3's capture: the seam's, and how its write statements mark their keys for the
 * trigger (here, so an L3 without capture does not carry it).
 */
export interface DrizzleL3Capture extends L3Capture {
  readonly ownWritesMark: OwnWritesMark;
}

/** What `createDrizzleL3`'s `capture` option takes: {@link changeCapture}, or {@link changeCaptureWith}'s. */
export type ChangeCapture = (
  name: string,
  db: Database,
  transactions: Transactions,
  versions: VersionsTable,
  migrationsSchema: string | undefined,
) => DrizzleL3Capture;

/**
 * Options of {@link changeCaptureWith}.
 * @example changeCaptureWith({ schemaCheckInterval: '10s' })
 */
export interface ChangeCaptureOptions {
  /**
   * How often the change source compares each captured table's definition with the one it last
   * saw, and logs a `ddl` change for one that moved on: how schema changes are found where no event
   * trigger could be installed, and a safety net where one is. One catalog query per interval, on
   * a read. Default '60s'; 0 checks before every read.
   */
  schemaCheckInterval?: Duration;
}

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
): DrizzleL3Capture {
  return changeCaptureWith()(name, db, transactions, versions, migrationsSchema);
}

/**
 * {@link changeCapture} with options. Throws INVALID_CONFIG for a duration that is not one.
 * @example
 * const l3 = createDrizzleL3(db, { capture: changeCaptureWith({ schemaCheckInterval: '10s' }) });
 */
export function changeCaptureWith(options: ChangeCaptureOptions = {}): ChangeCapture {
  const schemaCheckMs = toMs(options.schemaCheckInterval ?? '60s', 'capture.schemaCheckInterval');
  return (name, db, transactions, versions, migrationsSchema) =>
    build(name, db, transactions, versions, migrationsSchema, schemaCheckMs);
}

function build(
  name: string,
  db: Database,
  transactions: Transactions,
  versions: VersionsTable,
  migrationsSchema: string | undefined,
  schemaCheckMs: number,
): DrizzleL3Capture {
  let known = migrationsSchema === undefined ? undefined : captureTables(migrationsSchema);
  // Asked by each use until one answers, not shared while out: in a Worker the use that asked may
  // belong to a request that has ended, its fetch cancelled (never settles), and shared, it held
  // every later use (capture.check(), each read of the change log: cut-short-capture.test.ts).
  // One small query per use meanwhile, each waited for within its caller's request.
  const tables = async (): Promise<CaptureTables> => {
    if (known) return known;
    const [row] = rowsOf(await db.execute(sql`select current_schema() as "schema"`));
    known ??= captureTables(String(row?.schema ?? 'public'));
    return known;
  };
  const ctx = { db, transactions, versions, tables };
  let source: DrizzleChangeSource | undefined;
  return {
    ownWritesMark,
    source: () => {
      source ??= changeSource(name, db, tables, schemaCheckMs);
      return source;
    },
    install: (schemas: readonly CompiledSchema[], app?: string) =>
      runDriver(() => installCapture(ctx, schemas, app)),
    remove: (schemas: readonly CompiledSchema[], app?: string) =>
      runDriver(() => removeCapture(ctx, schemas, app)),
    check: (schemas: readonly CompiledSchema[], app?: string): Promise<CaptureCheck[]> =>
      runDriver(() => checkCapture(ctx, schemas, app)),
  };
}
