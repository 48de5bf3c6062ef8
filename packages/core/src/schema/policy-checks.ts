import { toMs } from '../duration.js';
import { schemaError } from '../errors.js';

/** Each checked option's path, and the values it takes ('' for a Duration). */
const CHECKED: readonly [string, string][] = [
  ['l1.ttl', ''],
  ['l2.ttl', ''],
  ['negativeTtl', ''],
  ['stale', ''],
  ['grace', ''],
  ['writeMode', 'write-through write-through-l1-async write-behind'],
  ['l1.eviction', 'sieve lru lfu fifo'],
  ['l3.replicaReads', 'search all'],
];

/**
 * Refuses, at `defineSchema`, a policy value that `register` would refuse (or, for an enum,
 * silently read as the default): `l1: { ttl: 'five minutes' }` is INVALID_MODEL naming `l1.ttl`
 * where the schema is written, not an error at the first `new Strata` or `register`.
 * @example checkPolicies('players', { table, l1: { ttl: 'five minutes' } }); // throws, field 'l1.ttl'
 */
export function checkPolicies(schema: string, definition: Readonly<Record<string, unknown>>): void {
  for (const [field, values] of CHECKED) {
    const value = optionAt(definition, field);
    if (value === undefined) continue;
    if (values === '') {
      try {
        toMs(value as number, field);
      } catch (err) {
        throw schemaError('INVALID_MODEL', schema, (err as Error).message.replace(/^strata: /, ''), {
          cause: err,
          details: { field },
        });
      }
    } else if (!values.split(' ').includes(value as string)) {
      throw schemaError('INVALID_MODEL', schema, `${field} must be one of ${values.replaceAll(' ', ', ')}`, {
        details: { field },
      });
    }
  }
  const max = optionAt(definition, 'l1.maxEntries');
  if (max !== undefined && !(Number.isSafeInteger(max) && (max as number) >= 0))
    throw schemaError('INVALID_MODEL', schema, 'l1.maxEntries must be a whole number, 0 or more (0: no limit)', {
      details: { field: 'l1.maxEntries' },
    });
}

/** The option at `field` ('stale', 'l1.ttl'); undefined when its part is absent or `false`. */
function optionAt(definition: Readonly<Record<string, unknown>>, field: string): unknown {
  const [part, key] = field.split('.') as [string, string?];
  const value = definition[part];
  if (!key) return value;
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}
