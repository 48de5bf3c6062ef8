import type { CompiledSchema } from './types.js';

/**
 * Whether two compiled schemas come from one definition: a Worker that builds its schema objects
 * per request (from module-level tables) hands the isolate's Strata a new object each time, and it
 * must be served as the registered one, while a schema of another table, shape or policy must not.
 * Functions (hooks, tags, ttl callbacks) compare by source, class instances (tables, tiers) by
 * reference; `validate` is not compared, so the registered schema's validation runs.
 */
export function sameDefinition(a: CompiledSchema, b: CompiledSchema): boolean {
  if (a === b) return true;
  if (a.name !== b.name || a.identity !== b.identity || a.fingerprint !== b.fingerprint) return false;
  return FIELDS.every((field) => same(a[field], b[field]));
}

const FIELDS = [
  'l1Keys',
  'l2Keys',
  'encryptedKeys',
  'insertOnlyKeys',
  'l1',
  'l2',
  'l3',
  'writeMode',
  'indexes',
  'hooks',
  'negativeTtl',
  'stale',
  'grace',
  'tags',
] as const satisfies readonly (keyof CompiledSchema)[];

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a === 'function' && typeof b === 'function') return String(a) === String(b);
  if (!plain(a) || !plain(b)) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}

function plain(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === Array.prototype || proto === null;
}
