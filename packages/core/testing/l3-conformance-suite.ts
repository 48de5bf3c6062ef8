import type { Database } from '../src/drizzle/database.js';
import { createDrizzleL3, type DrizzleL3Options } from '../src/drizzle/l3.js';
import type { L3Tier, Row, StoredRow, Write, WriteOp, WriteOutcome } from '../src/l3/types.js';
import type { CompiledSchema } from '../src/schema/types.js';

/** One statement as the driver sent it. */
interface LoggedStatement {
  query: string;
  params: readonly unknown[];
}

/** What every part of the conformance suite shares: one fixture, one Postgres schema, one log. */
export interface L3Suite {
  readonly schemaName: string;
  /** Every statement logged so far, in order; parts take `length` as a mark and read past it. */
  readonly log: LoggedStatement[];
  l3(): L3Tier;
  /** The fixture's database, if it gave one: catalog checks skip without it. */
  db(): Database | undefined;
}

/** Statements logged after `mark` (a previous `log.length`) whose SQL starts with `prefix`. */
export function loggedSince(suite: L3Suite, mark: number, prefix = ''): LoggedStatement[] {
  return suite.log.slice(mark).filter((s) => s.query.startsWith(prefix));
}

/** Statements logged after `mark` that write `table` of the suite's schema (as `insert into` or `delete from`). */
export function writesTo(suite: L3Suite, mark: number, verb: 'insert into' | 'delete from', table: string) {
  const target = `${verb} "${suite.schemaName}"."${table}"`;
  return suite.log.slice(mark).filter((s) => s.query.includes(target));
}

/** Another L3 over the fixture's database (same `migrationsSchema`), e.g. with a small `maxParameters`. */
export function otherL3(suite: L3Suite, options: DrizzleL3Options): L3Tier | undefined {
  const db = suite.db();
  return db && createDrizzleL3(db, { migrationsSchema: suite.schemaName, ...options });
}

export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: unknown }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error(`expected a rejection, got ${String(error)}`);
  return error;
}

export const byId = (a: Row, b: Row): number =>
  typeof a.id === 'number' && typeof b.id === 'number'
    ? a.id - b.id
    : String(a.id).localeCompare(String(b.id));

/** The rows of a read, without their versions, by id. */
export const rowsOf = (stored: readonly StoredRow[]): Row[] => stored.map((s) => s.row).sort(byId);

/** A read's rows with their versions, by id: reads come in no particular order. */
export const sortedStored = (stored: readonly StoredRow[]): StoredRow[] =>
  [...stored].sort((a, b) => byId(a.row, b.row));

/** `[id, version]` of each row of a read, by id. */
export const versionsOf = (stored: readonly StoredRow[]): [unknown, number][] =>
  [...stored].sort((a, b) => byId(a.row, b.row)).map((s) => [s.row.id, s.version]);

/** A set: Postgres-ordered without `version`, Redis-ordered with it. */
export const set = (row: Row, version?: number): Write =>
  version === undefined ? { row } : { row, version };

/** A delete: Postgres-ordered without `version`, Redis-ordered with it. */
export const del = (id: unknown, version?: number): Write =>
  version === undefined ? { id } : { id, version };

export const op = (schema: CompiledSchema, ...writes: Write[]): WriteOp => ({ schema, writes });

/** One op's outcomes: `write` of a single schema. */
export async function writeOne(
  l3: L3Tier,
  schema: CompiledSchema,
  ...writes: Write[]
): Promise<WriteOutcome[]> {
  const [outcomes] = await l3.write([{ schema, writes }]);
  return outcomes!;
}

/** Rows of a schema as stored, by id (no versions). */
export async function readRows(l3: L3Tier, schema: CompiledSchema, ids: readonly unknown[]): Promise<Row[]> {
  return rowsOf(await l3.findMany(schema, ids));
}
