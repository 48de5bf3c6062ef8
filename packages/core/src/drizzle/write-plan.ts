import { schemaError } from '../errors.js';
import type { Row, WriteOp, WriteOutcome } from '../l3/types.js';
import { type ColumnFills, insertFill } from '../schema/insert-fill.js';
import type { CompiledColumn, CompiledSchema } from '../schema/types.js';
import { recordsetColumns } from './recordset.js';
import { cannotBeSet, chunk, rowsPerStatement } from './upsert.js';

/** One write that won its key in a `write` call, where its outcome goes, and how it is ordered. */
export interface PlannedWrite {
  readonly op: number;
  readonly index: number;
  readonly schema: CompiledSchema;
  /** The key as Postgres prints the primary key (`pk::text`): what `_strata_versions.id` holds. */
  readonly key: string;
  readonly id: unknown;
  /** Absent for a delete. */
  readonly row?: Row;
  /** Present when ordered elsewhere (Redis): the write applies only over an older stored version. */
  readonly version?: number;
  /** A set that replaces the row (see `Write.replace`). */
  readonly replace?: boolean;
  /** Below `version` for a write standing for several (see `Write.since`). */
  readonly since?: number;
  /** A Postgres-ordered write's least version (see `Write.floor`). */
  readonly floor?: number;
  /**
   * A set that leaves settable columns out (not replacing): the SQL names of those it sets, which
   * its version row records as set at its version (`_strata_versions.cols`). Absent: a whole row.
   * A schema that maps fewer columns than its table has (see `TableColumns`) names them for every
   * set: its whole row leaves the others out.
   */
  readonly sent?: readonly string[];
  /**
   * Keys of the row's columns only an insert of it sets (see `Write.defaults`), and of the `$onUpdate`
   * columns it leaves to Postgres' DEFAULT (see `withFunctionDefaults`); absent: none.
   */
  readonly defaults?: readonly string[];
  /**
   * A folded set's `cols` in full (JSON; see `Write.setAt` and `VersionsTable`'s `cols`): '' and
   * each column it sets at the version of the write that set it. Absent: all at `version`.
   */
  readonly cols?: string;
}

/** Rows of one schema, one ordering and one shape (the columns they give), or deletes. */
export interface WriteGroup {
  readonly schema: CompiledSchema;
  readonly given: boolean;
  /** For sets: the columns every row of the group gives. Undefined: deletes. */
  readonly columns?: readonly CompiledColumn[];
  /**
   * Keys of `columns` only the insert sets (see `Write.defaults`): ON CONFLICT leaves them, or sets
   * their `$onUpdate` value (see `conflictSet`), as it does for such a column the rows leave out.
   */
  readonly defaults?: readonly string[];
  /** Sets that replace their rows (see `Write.replace`). */
  readonly replace: boolean;
  /**
   * A replacing group's table columns its schema does not map (see `TableColumns`), which the
   * replace resets to their defaults, as an insert of the row would. Absent: none.
   */
  readonly unmapped?: readonly string[];
  /**
   * Some writes stand for several of their key: each write carries a `since` then (see
   * `Write.since`; the others their own version, which asks nothing more of them).
   */
  readonly folded: boolean;
  /** Some writes carry a floor (see `Write.floor`; the others none). Postgres-ordered groups only. */
  readonly floored: boolean;
  /** The op's epoch (see `WriteOp.epoch`): the group applies only while no later one started. */
  readonly epoch?: number;
  readonly writes: readonly PlannedWrite[];
  /** How the rows travel: as VALUES parts, each under the parameter limit, or as one JSON recordset. */
  readonly parts: readonly (readonly PlannedWrite[])[];
  readonly recordset: boolean;
  /** The writing app (`WriteOp.app`), marked for the capture trigger. */
  readonly app?: string;
}

export interface WritePlan {
  readonly groups: readonly WriteGroup[];
  /** Every winner in lock order: Postgres-ordered keys first, then Redis-ordered, each by (identity, key). */
  readonly winners: readonly PlannedWrite[];
  /** Per op and write; losers (superseded in the call) are filled in already. */
  readonly outcomes: WriteOutcome[][];
}

/**
 * The key text of a primary-key value: what `pk::text` prints for the supported key types (text,
 * uuid in lowercase, integers), so a version row found by SQL and one named by the engine agree.
 * `sqlType` is the key column's: a uuid is accepted in any case, with or without hyphens or braces.
 */
export function keyText(id: unknown, sqlType?: string): string | undefined {
  if (typeof id === 'string') return sqlType === 'uuid' ? uuidText(id) : id;
  if (typeof id === 'number' || typeof id === 'bigint') return String(id);
  return undefined;
}

/** A uuid as Postgres prints it (lowercase, hyphenated); anything else as given, for Postgres to refuse. */
function uuidText(id: string): string {
  const hex = id
    .replace(/^\{(.*)\}$/, '$1')
    .replaceAll('-', '')
    .toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return id;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Code point order: what Postgres' "C" collation sorts by (UTF-8 byte order), which the version
 * statements lock keys in. JS `<` compares UTF-16 units, which differs above U+FFFF.
 */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function compareWrites(a: PlannedWrite, b: PlannedWrite): number {
  const given = Number(a.version !== undefined) - Number(b.version !== undefined);
  return given || compareText(a.schema.identity, b.schema.identity) || compareText(a.key, b.key);
}

/** A schema's table columns it does not map (see `TableColumns`). */
export type Unmapped = (schema: CompiledSchema) => readonly string[];

function collect(ops: readonly WriteOp[], outcomes: WriteOutcome[][], unmapped: Unmapped): PlannedWrite[] {
  const best = new Map<string, PlannedWrite>();
  ops.forEach((op, o) => {
    const pk = op.schema.primaryKey.key;
    const type = op.schema.primaryKey.column.getSQLType();
    const narrow = unmapped(op.schema).length > 0;
    op.writes.forEach((w, index) => {
      const filled = w.row && withFunctionDefaults(op.schema, w.row, w.defaults);
      const row = filled?.row;
      const id = row ? row[pk] : w.id;
      const key = keyText(id, type);
      if (key === undefined) {
        throw schemaError('MISSING_PRIMARY_KEY', op.schema.name, 'a write has no usable primary key', {
          details: { field: pk },
        });
      }
      // Not applied: older than the stored version (its floor, for a floored write), or superseded.
      outcomes[o]![index] = { applied: false, version: w.version ?? w.floor ?? 0 };
      // A floor only orders a Postgres-ordered write (a Redis-ordered one has its version).
      const floor = w.version === undefined ? w.floor : undefined;
      const at = JSON.stringify([op.schema.identity, key]);
      const seen = best.get(at);
      if (seen && (seen.version === undefined) !== (w.version === undefined)) {
        throw new TypeError(`write: key ${key} of ${op.schema.identity} is both Postgres- and Redis-ordered`);
      }
      // Postgres-ordered: the last write wins, as it would one statement at a time. Redis-ordered: the highest version.
      if (!seen || w.version === undefined || (seen.version ?? 0) < w.version) {
        const planned: PlannedWrite = {
          op: o,
          index,
          schema: op.schema,
          key,
          id,
          row,
          version: w.version,
          replace: w.replace === true,
          ...(w.version !== undefined && w.since !== undefined && w.since < w.version && { since: w.since }),
          // The later of two writes of a key in one call reserved the higher floor.
          ...(floor !== undefined && { floor: Math.max(floor, seen?.floor ?? 0) }),
          ...(filled?.defaults && w.replace !== true && { defaults: filled.defaults }),
          ...(row && w.replace !== true && sentOf(op.schema, row, narrow, filled?.defaults)),
        };
        // A fold's columns at their own versions (see `Write.setAt`).
        const cols = planned.since !== undefined && w.setAt && row ? colsOf(planned, w.setAt) : undefined;
        best.set(at, cols ? { ...planned, cols } : planned);
      }
    });
  });
  return [...best.values()].sort(compareWrites);
}

/**
 * The row with what Drizzle's own insert would add for the columns it leaves out (`insertFill`; SQL
 * and literal defaults are left to Postgres): a `$defaultFn` value, which only an insert takes
 * (`defaults`, with the write's own `given`: a default is for a new row, never over a stored value),
 * else a `$onUpdate` value, which applies on every write (as the engine's client defaults fill it).
 * A column with a default and `$onUpdate` takes its default where the row is new, as Drizzle's insert
 * does, and where the row exists its update value: named in `defaults` (a `$defaultFn` value, or
 * none, the insert leaving the column to Postgres' DEFAULT), so `conflictSet` sets that.
 */
function withFunctionDefaults(
  schema: CompiledSchema,
  row: Row,
  given: readonly string[] | undefined,
): { row: Row; defaults?: readonly string[] } {
  let out: Row | undefined;
  let defaults = given && given.length > 0 ? given : undefined;
  for (const { key, column } of schema.columns) {
    if (row[key] !== undefined) continue;
    const fns = column as unknown as ColumnFills;
    const how = insertFill(fns);
    if (how === 'default') {
      if (fns.onUpdateFn) defaults = [...(defaults ?? []), key];
      continue;
    }
    out ??= { ...row };
    out[key] = how === 'defaultFn' ? fns.defaultFn!() : fns.onUpdateFn!();
    if (how === 'defaultFn') defaults = [...(defaults ?? []), key];
  }
  return { row: out ?? row, ...(defaults && { defaults }) };
}

/**
 * `{ sent }` for a row that leaves a settable column out (see `PlannedWrite.sent`), else nothing.
 * `narrow`: the schema leaves some of its table's columns out, so every row does.
 */
function sentOf(
  schema: CompiledSchema,
  row: Row,
  narrow: boolean,
  defaults: readonly string[] | undefined,
): { sent: string[] } | undefined {
  const settable = schema.columns.filter((c) => c !== schema.primaryKey && !cannotBeSet(c.column));
  // A default an insert only sets is not recorded as set at the write's version: over a stored row
  // it was not, and over none no write set the column before.
  const sent = settable
    .filter((c) => row[c.key] !== undefined && !defaults?.includes(c.key))
    .map((c) => c.name);
  return narrow || sent.length < settable.length ? { sent } : undefined;
}

/**
 * A folded set's `cols` (see `PlannedWrite.cols`): the columns it sets (a partial set's `sent`, a
 * whole or replacing row's settable ones), each at the version `setAt` gives it (else the write's);
 * '' (the columns not named) kept as stored (0), or for a replace at the delete's version.
 */
function colsOf(w: PlannedWrite, setAt: Readonly<Record<string, number>>): string {
  const version = w.version!;
  const at = (key: string) => Math.min(setAt[key] ?? version, version);
  const named = w.replace
    ? shapeOf(w.schema, w.row!).filter((c) => c !== w.schema.primaryKey)
    : w.schema.columns.filter((c) =>
        w.sent ? w.sent.includes(c.name) : c !== w.schema.primaryKey && !cannotBeSet(c.column),
      );
  const cols: Record<string, number> = { '': w.replace ? at('') : 0 };
  for (const c of named) cols[c.name] = at(c.key);
  return JSON.stringify(cols);
}

function shapeOf(schema: CompiledSchema, row: Row): CompiledColumn[] {
  return schema.columns.filter((c) => row[c.key] !== undefined && !cannotBeSet(c.column));
}

/**
 * Past this many rows a group travels as one JSON recordset (when its column types allow): binding
 * a parameter per cell costs Drizzle more than the statement costs Postgres (setMany of 1,000 rows:
 * 52 ms as VALUES, 38 ms as a recordset), and the statement's text no longer depends on N.
 */
const RECORDSET_FROM = 8;

interface GroupKey {
  readonly schema: CompiledSchema;
  readonly given: boolean;
  readonly replace: boolean;
  readonly folded: boolean;
  readonly floored: boolean;
  readonly columns?: CompiledColumn[];
  readonly defaults?: readonly string[];
  readonly unmapped?: readonly string[];
  readonly app?: string;
  readonly epoch?: number;
}

function group(key: GroupKey, writes: PlannedWrite[], maxParameters: number): WriteGroup {
  const { schema, given, folded, columns } = key;
  // Each row binds its cells (its version when given, its `since` and `cols` when folded, its floor when
  // floored); the statement binds the identity (and the columns a partial set sends, and the epoch) once.
  const perRow = (columns?.length ?? 1) + (given ? 1 : 0) + (folded ? 2 : 0) + (key.floored ? 1 : 0);
  const sent = writes[0]?.sent !== undefined ? 1 : 0;
  const size = rowsPerStatement(perRow, maxParameters - 1 - sent - (key.epoch !== undefined ? 1 : 0));
  const recordset =
    writes.length > Math.min(size, RECORDSET_FROM) && recordsetColumns(columns ?? [schema.primaryKey]);
  return { ...key, writes, parts: recordset ? [writes] : chunk(writes, size), recordset };
}

/**
 * Plans a `write` call: coalesces each key to its winning write, then groups the winners by schema,
 * ordering and shape (an INSERT … SELECT cannot say DEFAULT for one row, so a column a row leaves
 * out is left out of its statement), in lock order.
 */
export function planWrite(
  ops: readonly WriteOp[],
  maxParameters: number,
  unmapped: Unmapped = () => [],
): WritePlan {
  const outcomes: WriteOutcome[][] = ops.map((op) => new Array(op.writes.length));
  const winners = collect(ops, outcomes, unmapped);
  const epochs = new Map(
    ops.flatMap((op) => (op.epoch === undefined ? [] : [[op.schema.identity, op.epoch]])),
  );
  // One app per call: every op of a call comes from one engine.
  const app = ops.find((op) => op.app !== undefined)?.app;
  const groups = new Map<string, { key: GroupKey; writes: PlannedWrite[] }>();
  for (const w of winners) {
    const given = w.version !== undefined;
    const replace = w.row !== undefined && w.replace === true;
    const columns = w.row ? shapeOf(w.schema, w.row) : undefined;
    // `collect` names only a set's columns, and none of a replacing one.
    const defaults = w.defaults;
    const name = JSON.stringify([
      w.schema.identity,
      given,
      replace,
      columns?.map((c) => c.key) ?? null,
      defaults,
    ]);
    const epoch = given ? undefined : epochs.get(w.schema.identity);
    const reset = replace ? unmapped(w.schema) : [];
    let g = groups.get(name);
    if (!g) {
      g = {
        key: {
          schema: w.schema,
          given,
          replace,
          folded: false,
          floored: false,
          ...(columns && { columns }),
          ...(defaults && { defaults }),
          ...(reset.length > 0 && { unmapped: reset }),
          ...(app !== undefined && { app }),
          ...(epoch !== undefined && { epoch }),
        },
        writes: [],
      };
      groups.set(name, g);
    }
    g.writes.push(w);
  }
  return {
    groups: [...groups.values()].map((g) => {
      // A folded write does not split its group: the others carry `since` = their version (the same check).
      const folded = g.writes.some((w) => w.since !== undefined);
      const floored = g.writes.some((w) => w.floor !== undefined);
      return group({ ...g.key, folded, floored }, g.writes, maxParameters);
    }),
    winners,
    outcomes,
  };
}
