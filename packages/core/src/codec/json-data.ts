import { typeName } from './failures.js';

/** What counts as JSON data beyond the common core (null, booleans, finite numbers, strings, arrays, plain objects). */
export interface JsonDataRules {
  /** Allow NaN and ±Infinity: a binary float keeps them, JSON text and jsonb turn them into null. */
  readonly nonFinite: boolean;
  /** Reject strings with a lone surrogate: UTF-8 cannot carry one, so it would come back altered. */
  readonly wellFormed: boolean;
}

/** Deeper nesting is refused rather than risking a stack overflow in an encoder. */
export const MAX_JSON_DEPTH = 100;

// With the `u` flag a surrogate pair is one code point, so this matches only unpaired halves.
const LONE_SURROGATE = /\p{Cs}/u;

/** True for `{}`-style objects (prototype Object.prototype or null), not arrays or class instances. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Why `value` would not come back unchanged from JSON (or from jsonb), or `undefined` when it
 * would. Object properties holding `undefined` are allowed (dropped, as `JSON.stringify` does);
 * `undefined` in an array is not (it would come back as null).
 *
 * @example whyNotJsonData({ n: 1n }, rules); // 'at n: bigint is not JSON data'
 */
export function whyNotJsonData(value: unknown, rules: JsonDataRules): string | undefined {
  // A primitive (most fields of most rows: every codec checks each one) needs no set of ancestors.
  return check(value, rules, '', typeof value === 'object' && value !== null ? new Set() : NO_ANCESTORS, 0);
}

/** The ancestors of a primitive: none, and never added to (only objects are). */
const NO_ANCESTORS: Set<object> = new Set();

function check(
  value: unknown,
  rules: JsonDataRules,
  path: string,
  seen: Set<object>,
  depth: number,
): string | undefined {
  switch (typeof value) {
    case 'boolean':
      return undefined;
    case 'string':
      return rules.wellFormed && LONE_SURROGATE.test(value)
        ? at(path, 'string has a lone surrogate')
        : undefined;
    case 'number':
      return Number.isFinite(value) || rules.nonFinite ? undefined : at(path, `${value} is not JSON data`);
    case 'object':
      if (value === null) return undefined;
      break;
    default:
      return at(path, `${typeof value} is not JSON data`);
  }
  if (depth >= MAX_JSON_DEPTH) return at(path, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (seen.has(value)) return at(path, 'cyclic reference');
  seen.add(value);
  const why = Array.isArray(value)
    ? checkArray(value, rules, path, seen, depth)
    : isPlainObject(value)
      ? checkObject(value, rules, path, seen, depth)
      : at(path, `${typeName(value)} is not JSON data`);
  // Only ancestors count as cycles: the same object twice side by side is fine.
  seen.delete(value);
  return why;
}

function checkArray(
  items: readonly unknown[],
  rules: JsonDataRules,
  path: string,
  seen: Set<object>,
  depth: number,
): string | undefined {
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const itemPath = `${path}[${i}]`;
    if (item === undefined) return at(itemPath, 'undefined in an array would come back as null');
    const why = check(item, rules, itemPath, seen, depth + 1);
    if (why !== undefined) return why;
  }
  return undefined;
}

function checkObject(
  object: Readonly<Record<string, unknown>>,
  rules: JsonDataRules,
  path: string,
  seen: Set<object>,
  depth: number,
): string | undefined {
  for (const key of Object.keys(object)) {
    const item = object[key];
    if (item === undefined) continue;
    const itemPath = path === '' ? key : `${path}.${key}`;
    if (rules.wellFormed && LONE_SURROGATE.test(key)) return at(itemPath, 'key has a lone surrogate');
    const why = check(item, rules, itemPath, seen, depth + 1);
    if (why !== undefined) return why;
  }
  return undefined;
}

function at(path: string, why: string): string {
  return path === '' ? why : `at ${path}: ${why}`;
}
