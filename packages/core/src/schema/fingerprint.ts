import type { CompiledColumn } from './types.js';

/**
 * A short, stable hash of the columns' keys, SQL names, types and nullability. It is part of every
 * L2 key, so after a migration changes the table no instance reads a cached value of the old shape.
 * FNV-1a: synchronous and tiny; this is an identity, not a security boundary.
 */
export function columnsFingerprint(columns: readonly CompiledColumn[], extra = ''): string {
  const text = columns
    .map((c) => `${c.key}=${c.name}:${c.sqlType}:${c.notNull ? 'nn' : 'null'}`)
    .concat(extra)
    .join('|');
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(36).padStart(7, '0');
}
