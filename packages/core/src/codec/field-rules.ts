import { encodeFailed, typeName } from './failures.js';
import { type JsonDataRules, whyNotJsonData } from './json-data.js';
import type { ColumnKind, ColumnKinds } from './types.js';

/** The JSON-data rules a codec applies to 'json' columns and to 'plain' or undeclared ones. */
export interface KindRules {
  readonly json: JsonDataRules;
  readonly plain: JsonDataRules;
}

/**
 * The kind of `field`, or undefined when `kinds` does not declare it. Own keys only, so a column
 * named e.g. `constructor` never picks up `Object.prototype.constructor`.
 */
export function kindOf(kinds: ColumnKinds, field: string): ColumnKind | undefined {
  return Object.hasOwn(kinds, field) ? kinds[field] : undefined;
}

const EXPECTED = { date: 'a Date', bigint: 'a bigint', bytes: 'a Uint8Array' } as const;

/**
 * Throws `ENCODE_FAILED` unless `value` (neither null nor undefined) is what a column of `kind`
 * holds and what the codec can bring back unchanged. Strict on purpose: a string in a 'date'
 * column would come back as a Date, a different value from the one cached.
 */
export function assertFits(
  codec: string,
  field: string,
  kind: ColumnKind | undefined,
  value: unknown,
  rules: KindRules,
) {
  switch (kind) {
    case 'date':
      if (!(value instanceof Date)) throw mismatch(codec, field, kind, value);
      if (Number.isNaN(value.getTime())) throw encodeFailed(codec, field, 'invalid Date (NaN time)');
      return;
    case 'bigint':
      if (typeof value !== 'bigint') throw mismatch(codec, field, kind, value);
      return;
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw mismatch(codec, field, kind, value);
      return;
    case 'json': {
      const why = whyNotJsonData(value, rules.json);
      if (why !== undefined) throw encodeFailed(codec, field, `${why} (jsonb column)`);
      return;
    }
    default: {
      const why = whyNotJsonData(value, rules.plain);
      if (why !== undefined) throw encodeFailed(codec, field, why + hint(value));
    }
  }
}

function mismatch(codec: string, field: string, kind: keyof typeof EXPECTED, value: unknown) {
  return encodeFailed(
    codec,
    field,
    `expected ${EXPECTED[kind]} for a '${kind}' column, got ${typeName(value)}`,
  );
}

/** Points at the likely fix when a typed value sits in a column not declared with its kind. */
function hint(value: unknown): string {
  if (value instanceof Date) return " (declare the column's kind as 'date')";
  if (typeof value === 'bigint') return " (declare the column's kind as 'bigint')";
  if (value instanceof Uint8Array) return " (declare the column's kind as 'bytes')";
  return '';
}

/** How a codec turns the stored form of each typed column back into its value. */
export interface KindRevivers {
  date(value: unknown, field: string): Date;
  bigint(value: unknown, field: string): bigint;
  bytes(value: unknown, field: string): Uint8Array;
}

/** The columns a decode must revive, by schema: listed once, not an `Object.keys` per decoded row. */
const revivable = new WeakMap<ColumnKinds, readonly (readonly [string, keyof KindRevivers])[]>();

/** The last `kinds` asked about and its list: a batch decodes rows of one schema after another. */
let lastKinds: ColumnKinds | undefined;
let lastList: readonly (readonly [string, keyof KindRevivers])[] = [];

function revivableOf(kinds: ColumnKinds): readonly (readonly [string, keyof KindRevivers])[] {
  // One comparison rather than a WeakMap lookup per decoded row.
  if (kinds === lastKinds) return lastList;
  const list = listRevivable(kinds);
  lastKinds = kinds;
  lastList = list;
  return list;
}

function listRevivable(kinds: ColumnKinds): readonly (readonly [string, keyof KindRevivers])[] {
  const known = revivable.get(kinds);
  if (known !== undefined) return known;
  // `kinds` is read-only (ColumnKinds): the list made once stays true.
  const list: (readonly [string, keyof KindRevivers])[] = [];
  for (const field of Object.keys(kinds)) {
    const kind = kinds[field];
    if (kind === 'date' || kind === 'bigint' || kind === 'bytes') list.push([field, kind]);
  }
  revivable.set(kinds, list);
  return list;
}

/** Revives the typed columns of a decoded row in place; null and absent fields stay as they are. */
export function reviveKinds(
  row: Record<string, unknown>,
  kinds: ColumnKinds,
  revive: KindRevivers,
): Record<string, unknown> {
  const list = revivableOf(kinds);
  for (let i = 0; i < list.length; i++) {
    const [field, kind] = list[i]!;
    // One lookup for the common case: a string is the row's own (a plain object's prototype holds
    // none); anything else is checked, so a field the row lacks is skipped, not read off the prototype.
    const value = row[field];
    if (value === null || (typeof value !== 'string' && !Object.hasOwn(row, field))) continue;
    row[field] = revive[kind](value, field);
  }
  return row;
}
