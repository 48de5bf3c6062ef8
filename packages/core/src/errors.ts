/**
 * Every error code Strata throws. The names follow the Go library's sentinels (`ErrNotFound` ->
 * `NOT_FOUND`), plus the few the TypeScript port adds (validation, query, timeout). Its
 * `ErrL1Unavailable` has no counterpart: L1 is this process's memory and cannot be unreachable.
 * `ENCODE_FAILED` is a codec's (or the bus message encoder's) refusal of a value it cannot carry
 * unchanged, when the codec is called directly; row validation refuses such values first
 * (VALIDATION_FAILED), so `set` never meets it.
 */
export const STRATA_ERROR_CODES = [
  'NOT_FOUND',
  'SCHEMA_NOT_FOUND',
  'SCHEMA_DUPLICATE',
  'NO_PRIMARY_KEY',
  'INVALID_MODEL',
  'MISSING_PRIMARY_KEY',
  'DECODE_FAILED',
  'ENCODE_FAILED',
  'L2_UNAVAILABLE',
  'L3_UNAVAILABLE',
  'UNAVAILABLE',
  'TX_FAILED',
  'TX_TIMEOUT',
  'INVALID_CONFIG',
  'HOOK_PANIC',
  'WRITE_BEHIND_MAX_RETRY',
  'WRITE_BEHIND_SUPERSEDED',
  'VALIDATION_FAILED',
  'INVALID_QUERY',
  'TIMEOUT',
  'QUEUE_UNAVAILABLE',
] as const;

/**
 * The `code` of a {@link StrataError}: the Go library's sentinel names (`NOT_FOUND`, …) and a few more.
 * @example
 * const retryable: StrataErrorCode[] = ['L3_UNAVAILABLE', 'TIMEOUT'];
 * if (err instanceof StrataError && retryable.includes(err.code)) retry();
 */
export type StrataErrorCode = (typeof STRATA_ERROR_CODES)[number];

/** The messages of the Go library Strata's sentinel errors, used when a throw site gives none. */
const DEFAULT_MESSAGES: Readonly<Record<StrataErrorCode, string>> = {
  NOT_FOUND: 'record not found',
  SCHEMA_NOT_FOUND: 'schema not registered',
  SCHEMA_DUPLICATE: 'schema already registered',
  NO_PRIMARY_KEY: 'schema has no primary key',
  INVALID_MODEL: 'invalid model',
  MISSING_PRIMARY_KEY: 'value is missing primary key',
  DECODE_FAILED: 'failed to decode stored value',
  ENCODE_FAILED: 'failed to encode value for storage',
  L2_UNAVAILABLE: 'L2 Redis unavailable',
  L3_UNAVAILABLE: 'L3 Postgres unavailable',
  UNAVAILABLE: 'all tiers unavailable',
  TX_FAILED: 'transaction failed',
  TX_TIMEOUT: 'transaction timeout',
  INVALID_CONFIG: 'invalid configuration',
  HOOK_PANIC: 'hook threw',
  WRITE_BEHIND_MAX_RETRY: 'write-behind exceeded max retries',
  WRITE_BEHIND_SUPERSEDED:
    'write-behind write superseded by a later epoch, or refused after its counter went back',
  VALIDATION_FAILED: 'value failed validation',
  INVALID_QUERY: 'invalid query',
  TIMEOUT: 'operation timed out',
  QUEUE_UNAVAILABLE: 'write queue unavailable',
};

/**
 * A registry symbol, so the brand is the same symbol in every copy of this package (two installs,
 * a bundled and an unbundled copy, another realm) where `instanceof` would say no.
 */
const BRAND = Symbol.for('strata.error');

const PREFIX = 'strata: ';

interface StrataErrorOptions {
  /** The underlying error (standard ES2022 `Error.cause`). */
  cause?: unknown;
  /** Structured context for logs and callers, e.g. `{ schema, id, field }`. */
  details?: Record<string, unknown>;
}

/**
 * The one error class Strata throws. Test for it with {@link isStrataError}, not `instanceof`.
 *
 * @example
 * throw new StrataError('NOT_FOUND', `user ${id} not found`, { details: { schema: 'users', id } });
 * // err.message === 'strata: user 42 not found'
 */
export class StrataError extends Error {
  override readonly name = 'StrataError';
  readonly code: StrataErrorCode;
  // `declare`: no class field, so the property exists only when details were given.
  declare readonly details?: Record<string, unknown>;

  constructor(code: StrataErrorCode, message?: string, options: StrataErrorOptions = {}) {
    const text = message ?? DEFAULT_MESSAGES[code];
    // Only pass `cause` when given, so `'cause' in err` tells "no cause" from "cause: undefined".
    super(text.startsWith(PREFIX) ? text : PREFIX + text, 'cause' in options ? { cause: options.cause } : {});
    this.code = code;
    if (options.details !== undefined) this.details = options.details;
    // Non-enumerable so it stays out of JSON and structured logs.
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True when `err` is a Strata error (from this or any other copy of the package), optionally with
 * the given code.
 *
 * @example
 * try { await strata.get('users', id); }
 * catch (err) { if (isStrataError(err, 'NOT_FOUND')) return null; throw err; }
 */
export function isStrataError<C extends StrataErrorCode>(
  err: unknown,
  code?: C,
): err is StrataError & { readonly code: C } {
  if (typeof err !== 'object' || err === null) return false;
  if ((err as Record<symbol, unknown>)[BRAND] !== true) return false;
  const actual = (err as { code?: unknown }).code;
  return code === undefined ? typeof actual === 'string' : actual === code;
}

/** How a refused write's message ends: the caller may send it again as it was. */
export const NOTHING_WRITTEN = 'nothing was written';

/**
 * A Strata error about one schema: the message says `schema {name}: {why}` and `details.schema`
 * names it, before the rest of `options.details`. `cause` only when `options` has one (see above).
 * @example throw schemaError('NOT_FOUND', 'users', 'no row with id 42', { details: { id: '42' } });
 */
export function schemaError(
  code: StrataErrorCode,
  schema: string,
  why: string,
  options: StrataErrorOptions = {},
): StrataError {
  return new StrataError(code, `schema ${schema}: ${why}`, {
    ...options,
    details: { schema, ...options.details },
  });
}

/** What an error says, for a log field or a message: its message, or the thrown value as text. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
