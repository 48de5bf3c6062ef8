import { NOTHING_WRITTEN, schemaError } from '../errors.js';
import { EPOCH_SPAN, LAST_EPOCH } from '../l3/epoch-span.js';
import type { SchemaCache } from './schema-cache.js';

/** Past this share of its epochs a table's seed is warned about (once per table and instance). */
const WARN_SHARE = 0.9;

/** Per instance (its resolved config), the tables (schema identities) already warned about. */
const warned = new WeakMap<object, Set<string>>();

/**
 * Checks the floor a seed is about to give a write-behind counter (`epoch * EPOCH_SPAN`, see
 * `seedCounter`). Past `LAST_EPOCH` its versions would pass 2^53 and lose precision (two writes'
 * order breaks with no error anywhere), so the seed is refused: counted (metric `error`, op
 * `epochs`), logged, and thrown as L2_UNAVAILABLE (the counter cannot be seeded; nothing written).
 * Past 90 % of the epochs, warned once per table (metric `epochsLow`), while there is time to act.
 */
export function checkEpochFloor(cache: SchemaCache, floor: number): void {
  const epoch = Math.floor(floor / EPOCH_SPAN);
  const { logger, metrics } = cache.config;
  const schema = cache.schema.name;
  const fields = { schema, epoch, lastEpoch: LAST_EPOCH };
  if (epoch > LAST_EPOCH) {
    const cause = new RangeError(
      `epoch ${epoch} is past the last one (${LAST_EPOCH}): its versions would pass 2^53 (Number.MAX_SAFE_INTEGER)`,
    );
    metrics.count('error', { schema, tier: 'l3', op: 'epochs' });
    logger.error('write-behind counter not seeded: the table has used every epoch', fields);
    throw schemaError(
      'L2_UNAVAILABLE',
      schema,
      `its write-behind version counter cannot be seeded: every epoch (${LAST_EPOCH}) is used. Run the table write-through, whose versions are Postgres' own (docs/semantics.md, "Takeover"); ${NOTHING_WRITTEN}`,
      { cause, details: { reason: 'epochs-exhausted', epoch, lastEpoch: LAST_EPOCH } },
    );
  }
  if (epoch <= LAST_EPOCH * WARN_SHARE) return;
  let tables = warned.get(cache.config);
  if (!tables) {
    tables = new Set();
    warned.set(cache.config, tables);
  }
  if (tables.has(cache.schema.identity)) return;
  tables.add(cache.schema.identity);
  metrics.count('epochsLow', { schema, tier: 'l3', op: 'epochs' });
  logger.warn("write-behind counter seeded past 90 % of the table's epochs: every reseed takes one", {
    ...fields,
    left: LAST_EPOCH - epoch,
  });
}
