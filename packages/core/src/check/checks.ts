// Declarative checks for what crosses Strata's boundaries (its config, bus and queue messages, rows).
// They do what Strata used of zod, with zod's semantics and English messages, for a few hundred
// bytes: zod, even `zod/mini`, was 11 KiB of a Worker's gzipped bundle (issue 13). Only the first
// issue is reported, in zod's order: an object's fields in declaration order (depth first), then
// its unknown keys; a type before the rules on it, the rules in the order given.
import { expected, notOneOf, type Origin, outOfBounds, unrecognized } from './messages.js';

/** Where an issue is, from the checked value's root: property names and array indexes. */
export type Path = readonly (string | number)[];

/** The first thing wrong with a value. */
export interface Issue {
  readonly path: Path;
  readonly message: string;
  /** The keys an object does not declare, when that is the issue (`path` is then the object's). */
  readonly keys?: readonly string[];
}

declare const accepted: unique symbol;
/**
 * A value's first issue, or undefined when it passes. `T` is what a passing value is: a type only
 * (no runtime field), so the config can derive its input type from its checks.
 */
export type Check<T = unknown> = ((value: unknown, path: Path) => Issue | undefined) & {
  readonly [accepted]?: T;
};
/** What a value that passes `C` is. */
export type Accepted<C> = C extends Check<infer T> ? T : never;
/** A further rule on a value already of its type: a bound, a length, a pattern. */
export type Rule<T> = (value: T, path: Path) => Issue | undefined;

const at = (path: Path, message: string): Issue => ({ path, message });

function typed<T>(type: string, is: (value: unknown) => value is T, rules: readonly Rule<T>[]): Check<T> {
  return (value, path) => {
    if (!is(value)) return at(path, expected(type, value));
    for (const rule of rules) {
      const issue = rule(value, path);
      if (issue) return issue;
    }
    return undefined;
  };
}

export const string = (...rules: Rule<string>[]) =>
  typed('string', (v): v is string => typeof v === 'string', rules);
/** A finite number (NaN and ±Infinity are refused). */
export const number = (...rules: Rule<number>[]) =>
  typed('number', (v): v is number => typeof v === 'number' && Number.isFinite(v), rules);
export const bigint = (...rules: Rule<bigint>[]) =>
  typed('bigint', (v): v is bigint => typeof v === 'bigint', rules);
export const boolean = () => typed('boolean', (v): v is boolean => typeof v === 'boolean', []);
/** A Date that holds a time (not `new Date(NaN)`). */
export const date = () =>
  typed('date', (v): v is Date => v instanceof Date && !Number.isNaN(v.getTime()), []);

/** A safe integer, as zod's `z.int()`. */
export const int: Rule<number> = (value, path) => {
  if (!Number.isInteger(value)) return at(path, expected('int', value));
  if (value > Number.MAX_SAFE_INTEGER)
    return at(path, outOfBounds('big', 'int', Number.MAX_SAFE_INTEGER, '<='));
  if (value < Number.MIN_SAFE_INTEGER) {
    return at(path, outOfBounds('small', 'int', Number.MIN_SAFE_INTEGER, '>='));
  }
  return undefined;
};

const originOf = (bound: number | bigint): Origin => (typeof bound === 'bigint' ? 'bigint' : 'number');
type Widen<T> = T extends number ? number : bigint;
export const gte =
  <T extends number | bigint>(min: T): Rule<Widen<T>> =>
  (value, path) =>
    value < min ? at(path, outOfBounds('small', originOf(min), min, '>=')) : undefined;
export const gt =
  <T extends number | bigint>(min: T): Rule<Widen<T>> =>
  (value, path) =>
    value <= min ? at(path, outOfBounds('small', originOf(min), min, '>')) : undefined;
export const lte =
  <T extends number | bigint>(max: T): Rule<Widen<T>> =>
  (value, path) =>
    value > max ? at(path, outOfBounds('big', originOf(max), max, '<=')) : undefined;

type Sized = string | readonly unknown[];
const sizeOrigin = (value: Sized): Origin => (typeof value === 'string' ? 'string' : 'array');
export const minLength =
  (min: number): Rule<Sized> =>
  (value, path) =>
    value.length < min ? at(path, outOfBounds('small', sizeOrigin(value), min, '>=')) : undefined;
export const maxLength =
  (max: number): Rule<Sized> =>
  (value, path) =>
    value.length > max ? at(path, outOfBounds('big', sizeOrigin(value), max, '<=')) : undefined;
export const length =
  (exact: number): Rule<Sized> =>
  (value, path) =>
    value.length === exact
      ? undefined
      : at(path, outOfBounds(value.length > exact ? 'big' : 'small', sizeOrigin(value), exact, 'exactly '));

/**
 * At most `max` characters as Postgres counts them (code points: '😀' is one, not two UTF-16
 * units), for varchar(n) and char(n): zod's max(n) refused text those columns store.
 */
export const maxCharacters =
  (max: number): Rule<string> =>
  (value, path) => {
    if (value.length <= max) return undefined;
    let points = 0;
    for (const _ of value) if (++points > max) return at(path, outOfBounds('big', 'string', max, '<='));
    return undefined;
  };

export const pattern =
  (re: RegExp): Rule<string> =>
  (value, path) => {
    re.lastIndex = 0;
    return re.test(value) ? undefined : at(path, `Invalid string: must match pattern ${re}`);
  };
// zod's UUID: RFC 9562 versions 1 to 8 with the RFC variant, and the nil and max UUIDs.
const UUID =
  /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/;
export const uuid: Rule<string> = (value, path) => (UUID.test(value) ? undefined : at(path, 'Invalid UUID'));

export const optional =
  <T>(check: Check<T>): Check<T | undefined> =>
  (value, path) =>
    value === undefined ? undefined : check(value, path);
export const nullable =
  <T>(check: Check<T>): Check<T | null> =>
  (value, path) =>
    value === null ? undefined : check(value, path);
export const unknown: Check = () => undefined;
/** Nothing may be there (`optional(never)`: the field must be absent). */
export const never: Check = (value, path) => at(path, expected('never', value));
export const absent: Check = (value, path) =>
  value === undefined ? undefined : at(path, expected('undefined', value));
/** One of `values` (zod's `enum`, or `literal` for one value). */
export const oneOf =
  <const V>(values: readonly V[]): Check<V> =>
  (value, path) =>
    (values as readonly unknown[]).includes(value) ? undefined : at(path, notOneOf(values));

/** A predicate with its message (zod's `custom`). */
export const custom =
  <T = unknown>(accepts: (value: unknown) => boolean, message = 'Invalid input'): Check<T> =>
  (value, path) =>
    accepts(value) ? undefined : at(path, message);
/** `check`, then `accepts` on a value that passed it (zod's `refine`). */
export const refine =
  <T>(check: Check, accepts: (value: T) => boolean, message: string): Check =>
  (value, path) =>
    check(value, path) ?? (accepts(value as T) ? undefined : at(path, message));
/** Passes when one of `checks` does (zod's `union`, of options without rules): else `Invalid input`. */
export const anyOf =
  <C extends Check<unknown>[]>(...checks: C): Check<Accepted<C[number]>> =>
  (value, path) =>
    checks.some((check) => check(value, path) === undefined) ? undefined : at(path, 'Invalid input');

export const array =
  (item: Check, ...rules: Rule<readonly unknown[]>[]): Check =>
  (value, path) => {
    if (!Array.isArray(value)) return at(path, expected('array', value));
    for (let i = 0; i < value.length; i++) {
      const issue = item(value[i], [...path, i]);
      if (issue) return issue;
    }
    for (const rule of rules) {
      const issue = rule(value, path);
      if (issue) return issue;
    }
    return undefined;
  };
export const tuple =
  (items: readonly Check[]): Check =>
  (value, path) => {
    if (!Array.isArray(value)) return at(path, expected('tuple', value));
    if (value.length < items.length) return at(path, outOfBounds('small', 'array', items.length, '>='));
    if (value.length > items.length) return at(path, outOfBounds('big', 'array', items.length, '<='));
    for (let i = 0; i < items.length; i++) {
      const issue = items[i]!(value[i], [...path, i]);
      if (issue) return issue;
    }
    return undefined;
  };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** An object with these fields; other keys are ignored (`'strip'`) or an issue (`'refuse'`). */
export function object(
  shape: Readonly<Record<string, Check>>,
  otherKeys: 'strip' | 'refuse' = 'strip',
): Check {
  const fields = Object.entries(shape);
  return (value, path) => {
    if (!isObject(value)) return at(path, expected('object', value));
    // Checked first with the object's own path, no array per field: the field's path is built only
    // for an issue, by checking that field again (checks are pure), since that is where it points.
    for (const [key, check] of fields) if (check(value[key], path)) return check(value[key], [...path, key]);
    if (otherKeys === 'strip') return undefined;
    const keys: string[] = [];
    // for…in, as zod: inherited enumerable keys are unknown keys too.
    for (const key in value) if (!Object.hasOwn(shape, key)) keys.push(key);
    return keys.length > 0 ? { path, message: unrecognized(keys, Object.keys(shape)), keys } : undefined;
  };
}
export const strictObject = (shape: Readonly<Record<string, Check>>) => object(shape, 'refuse');

/** One of several object shapes, chosen by the string in its `key` field (zod's `discriminatedUnion`). */
export function discriminated(key: string, options: Readonly<Record<string, Check>>): Check {
  const message = `Invalid discriminator value. Expected ${Object.keys(options)
    .map((option) => `'${option}'`)
    .join(' | ')}`;
  return (value, path) => {
    if (!isObject(value)) return at(path, expected('object', value));
    const tag = value[key];
    const option = typeof tag === 'string' && Object.hasOwn(options, tag) ? options[tag] : undefined;
    return option ? option(value, path) : at([...path, key], message);
  };
}
