import { isPlainObject } from '../codec/json-data.js';
import { StrataError, schemaError } from '../errors.js';
import { type Id, idKey, normalizeId } from './ids.js';
import type { SchemaCache } from './schema-cache.js';

/** setMany's input as [map key, row] pairs: an array has no keys, a Map or a record does. */
export function entriesOf<V>(
  values: readonly V[] | ReadonlyMap<Id, V> | Readonly<Record<string, V>>,
): [Id | undefined, V][] {
  if (Array.isArray(values)) return values.map((v) => [undefined, v]);
  if (values instanceof Map) return [...values.entries()];
  // A Set or a number has no entries: it would be acknowledged as a batch of nothing.
  if (!isPlainObject(values)) throw notAList('values');
  return Object.entries(values);
}

/** A batch's ids, checked: a string or a Set would be taken as characters or as no ids. */
export function idsOf(ids: readonly Id[]): readonly Id[] {
  if (Array.isArray(ids)) return ids;
  throw notAList('ids');
}

function notAList(field: string): StrataError {
  return new StrataError('VALIDATION_FAILED', `${field} must be an array`, { details: { field } });
}

/** A row given under a map key: the key fills a missing primary key and must match a present one. */
export function withMapKey(rt: SchemaCache, mapKey: Id | undefined, value: unknown): unknown {
  if (mapKey === undefined || typeof value !== 'object' || value === null) return value;
  const pk = rt.schema.primaryKey.key;
  const row = value as Record<string, unknown>;
  if (row[pk] === undefined || row[pk] === null) return { ...row, [pk]: mapKey };
  if (idKey(normalizeId(rt.schema, row[pk])) !== idKey(normalizeId(rt.schema, mapKey))) {
    throw schemaError(
      'VALIDATION_FAILED',
      rt.schema.name,
      `row ${String(row[pk])} is under key ${String(mapKey)}`,
      { details: { field: pk } },
    );
  }
  return value;
}
