import { NOTHING_WRITTEN, schemaError } from '../errors.js';
import { EPOCH_SPAN, LAST_EPOCH } from '../l3/epoch-span.js';
import type { SchemaCache } from './schema-cache.js';

/** Per instance (its resolved config), the tables (schema identities) warned about. */
const warned = new WeakMap<object, Set<string>>();

/**
 * Checks the floor a seed is about to give a write-behind counter (`epoch * EPOCH_SPAN`, see
 * `seedCounter`). Past `LAST_EPOCH` its versions would pass 2^53 and lose precision (two writes'
 * order breaks with no error anywhere), so the seed is refused: counted (metric `error`, op
 * `epochs`), logged, and thrown as L2_UNAVAILABLE (the counter cannot be seeded; nothing written).
 * Past 90 % of the epochs, warned once per table and instance (metric `epochsLow`).
 */
export function checkEpochFloor(cache: SchemaCache, floor: number): void {
  const epoch = Math.floor(floor / EPOCH_SPAN);
  if (epoch <= LAST_EPOCH * 0.9) return;
  const { logger, metrics } = cache.config;
  const schema = cache.schema.name;
  const details = { epoch, lastEpoch: LAST_EPOCH };
  const labels = { schema, tier: 'l3', op: 'epochs' } as const;
  if (epoch > LAST_EPOCH) {
    metrics.count('error', labels);
    logger.error('write-behind counter not seeded: every epoch of the table is used', { schema, ...details });
    throw schemaError(
      'L2_UNAVAILABLE',
      schema,
      `every epoch is used: run the table write-through (docs/semantics.md, "Takeover"); ${NOTHING_WRITTEN}`,
      { cause: new RangeError('versions past 2^53'), details: { reason: 'epochs-exhausted', ...details } },
    );
  }
  const tables = warned.get(cache.config) ?? new Set();
  warned.set(cache.config, tables);
  if (tables.has(cache.schema.identity)) return;
  tables.add(cache.schema.identity);
  metrics.count('epochsLow', labels);
  logger.warn('write-behind counter seeded past 90 % of the epochs', {
    schema,
    ...details,
    left: LAST_EPOCH - epoch,
  });
}
