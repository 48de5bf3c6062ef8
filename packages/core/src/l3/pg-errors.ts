import type { StrataErrorCode } from '../errors.js';

/** What a failed L3 call was doing: reading rows by id, writing rows, or running a caller's query. */
export type PgOp = 'read' | 'write' | 'query';

/** One line of {@link PG_ERROR_RULES}. */
interface PgErrorRule {
  /** A SQLSTATE ('55P03'), a class ('08' = every 08xxx), or 'none' (the error carries no SQLSTATE). */
  readonly match: string;
  readonly ops: readonly PgOp[];
  readonly code: StrataErrorCode;
  /** Worth retrying as is: the outcome is unknown or the cause is passing (see isTransientPgError). */
  readonly transient: boolean;
  readonly why: string;
}

const ALL: readonly PgOp[] = ['read', 'write', 'query'];
const R: readonly PgOp[] = ['read'];
const W: readonly PgOp[] = ['write'];
const Q: readonly PgOp[] = ['query'];
const RW: readonly PgOp[] = ['read', 'write'];
const TABLE_MISMATCH = 'the table does not match the schema: run migrate() or drizzle-kit push';
/** SQLSTATE classes that refuse the caller's input, not a failing tier: 22 data, 23 constraint, 54 program limit. */
const INPUT_CLASSES: readonly string[] = ['22', '23', '54'];

const rule = (match: string, ops: readonly PgOp[], code: StrataErrorCode, why: string): PgErrorRule => ({
  match,
  ops,
  code,
  transient: false,
  why,
});
const transient = (match: string, why: string): PgErrorRule => ({
  ...rule(match, ALL, 'L3_UNAVAILABLE', why),
  transient: true,
});

/**
 * How a Postgres error becomes a Strata error code, first match wins (an exact SQLSTATE before its
 * class). Input classes (22 data, 23 constraint, 54 program limit) are the caller's: on a write the
 * row, on a query the query; on a read by id the only input is the id, so they give
 * MISSING_PRIMARY_KEY, the code normalizeId gives a bad id (it refuses the known cases first, and
 * a read has no constraint to violate). Anything not listed is L3_UNAVAILABLE. Printed in the README.
 */
export const PG_ERROR_RULES: readonly PgErrorRule[] = [
  transient('none', 'no answer from Postgres (network, timeout): the outcome is unknown'),
  transient('08', 'connection exception'),
  transient('25', 'invalid transaction state (25006: a read-only replica, e.g. after a failover)'),
  transient('40', 'serialization failure or deadlock'),
  transient('53', 'insufficient resources (disk, memory, connections)'),
  transient('55P03', 'lock not available'),
  transient('57', 'operator intervention (57014 statement timeout, shutdown, cancel)'),
  transient('58', 'system error (I/O)'),
  transient('XX', 'internal error'),
  ...INPUT_CLASSES.flatMap((match) => [
    rule(match, W, 'VALIDATION_FAILED', 'Postgres refused the row'),
    rule(match, Q, 'INVALID_QUERY', 'Postgres refused a query argument'),
    rule(match, R, 'MISSING_PRIMARY_KEY', 'Postgres refused the id'),
  ]),
  rule('42501', ALL, 'L3_UNAVAILABLE', 'insufficient privilege: a grant is missing'),
  rule('42P01', RW, 'INVALID_MODEL', TABLE_MISMATCH),
  rule('42703', RW, 'INVALID_MODEL', TABLE_MISMATCH),
  rule('42', Q, 'INVALID_QUERY', 'not valid SQL for this table (syntax, unknown column or function)'),
];

const BY_MATCH = new Map<string, PgErrorRule[]>();
for (const rule of PG_ERROR_RULES) BY_MATCH.set(rule.match, [...(BY_MATCH.get(rule.match) ?? []), rule]);

// A SQLSTATE class is two digits/letters; Postgres' own letter classes are F0, HV, P0 and XX. This
// keeps Node's 5-letter errno codes (EPIPE, EPERM…) from passing for an answer from Postgres.
const SQLSTATE = /^(?:[0-9][0-9A-Z]|F0|HV|P0|XX)[0-9A-Z]{3}$/;

/** The error that carries the SQLSTATE: the error itself or one of its causes (Drizzle wraps it). */
function pgErrorOf(err: unknown): { code: string; message?: unknown } | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && SQLSTATE.test(code)) return e as { code: string };
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The SQLSTATE of a driver error, looking through Drizzle's `cause` chain; undefined when Postgres
 * did not answer (network, timeout) or the error is not from Postgres.
 * @example sqlStateOf(new DrizzleQueryError(query, params, pgError)); // '23505'
 */
export function sqlStateOf(err: unknown): string | undefined {
  return pgErrorOf(err)?.code;
}

/** The rule that decides `err` for `op` (always one: the fallback is L3_UNAVAILABLE). */
export function pgErrorRule(err: unknown, op: PgOp): PgErrorRule {
  const state = sqlStateOf(err);
  const keys = state === undefined ? ['none'] : [state, state.slice(0, 2)];
  for (const key of keys) {
    const rule = BY_MATCH.get(key)?.find((r) => r.ops.includes(op));
    if (rule) return rule;
  }
  return FALLBACK;
}

const FALLBACK = rule('other', ALL, 'L3_UNAVAILABLE', 'any other error: Postgres failed the statement');

/**
 * True when retrying as is may succeed: no SQLSTATE (the outcome is unknown), or a connection,
 * transaction-state, serialization, resource, lock, operator, system or internal error. The
 * write-behind flusher never dead-letters a write for one of these.
 * @example isTransientPgError({ code: '40001' }); // true
 */
export function isTransientPgError(err: unknown): boolean {
  return pgErrorRule(err, 'write').transient;
}

/**
 * The Strata error code for a failed L3 call (see {@link PG_ERROR_RULES}).
 * @example classifyPgError({ code: '42601' }, 'query'); // 'INVALID_QUERY'
 */
export function classifyPgError(err: unknown, op: PgOp): StrataErrorCode {
  return pgErrorRule(err, op).code;
}

/**
 * True when Postgres refused the caller's input (a taken unique value, a value out of range, a row
 * too large): the caller's to fix, so `stats()` counts it as `rejected`, not among the tier errors.
 * @example isInputPgError({ code: '23505' }); // true: unique_violation
 */
export function isInputPgError(err: unknown): boolean {
  const state = sqlStateOf(err);
  return state !== undefined && INPUT_CLASSES.includes(state.slice(0, 2));
}

/**
 * The constraint or column a refused row's error names: names, never the values (Postgres'
 * `detail` holds those), so they are safe in an error and tell which rule the row broke. Asked only
 * of errors that refuse the caller's input (context.ts): others carry neither.
 * @example inputErrorNames(uniqueViolation); // { constraint: 'players_username_unique' }
 */
export function inputErrorNames(err: unknown): { constraint?: string; column?: string } {
  const pg = pgErrorOf(err) as { constraint?: unknown; column?: unknown } | undefined;
  return {
    ...(typeof pg?.constraint === 'string' && { constraint: pg.constraint }),
    ...(typeof pg?.column === 'string' && { column: pg.column }),
  };
}

/** Postgres' own message when it names SQL (class 42), not data: safe to show in an error. */
export function pgSqlMessage(err: unknown): string | undefined {
  const pg = pgErrorOf(err);
  return pg?.code.startsWith('42') && typeof pg.message === 'string' ? pg.message : undefined;
}

/**
 * Errors that say the database is not ready for a table's writes: a migration, a grant or the
 * connection settings fix them (a missing table, column, schema or database, a refused login).
 */
const NOT_READY = new Set(['42P01', '42703', '42501', '3F000', '3D000', '28000', '28P01']);

/**
 * True when a write-behind flush must hold its writes rather than judge them: the error may pass
 * by itself ({@link isTransientPgError}), or says the database is not ready for them (a missing
 * table, column or Postgres schema, a missing grant). No write of the batch is at fault then, and
 * none may be dead-lettered for it.
 * @example holdsFlush({ code: '42P01' }); // true: run migrate(), the writes are still queued
 */
export function holdsFlush(err: unknown): boolean {
  const state = sqlStateOf(err);
  return isTransientPgError(err) || (state !== undefined && NOT_READY.has(state));
}
