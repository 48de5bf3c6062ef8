import { fnv1a } from '../hash.js';
import type { CompiledColumn } from './types.js';

/**
 * A short, stable hash of the cached shape: the columns' keys, SQL names, types and nullability,
 * which of them are left out of L2 (omitCache) and which are encrypted. It is part of every L2 key,
 * so after a migration changes the table, or beside another schema over the same table that caches
 * other columns, no instance reads a cached value of another shape.
 * FNV-1a: synchronous and tiny; this is an identity, not a security boundary.
 * @example columnsFingerprint(compileColumns('players', getTableColumns(players), {})); // '0k3x9ab'
 */
export function columnsFingerprint(columns: readonly CompiledColumn[]): string {
  const encrypted = columns.filter((c) => c.options.encrypted).map((c) => c.key);
  // Cached columns keep the text they always had, so existing L2 keys stay valid.
  const text = columns
    .map((c) => {
      const base = `${c.key}=${c.name}:${c.sqlType}:${c.notNull ? 'nn' : 'null'}`;
      return c.options.omitCache ? `${base}:omitCache` : base;
    })
    .concat(encrypted.join(','))
    .join('|');
  return fnv1a(text).toString(36).padStart(7, '0');
}
