import type { PgColumn } from 'drizzle-orm/pg-core';
import { StrataError } from '../errors.js';
import type { CompiledColumn, IdRule } from './types.js';

const STRING: IdRule = { kind: 'string' };
const INT16: IdRule = { kind: 'integer', min: -32_768, max: 32_767 };
const INT32: IdRule = { kind: 'integer', min: -2_147_483_648, max: 2_147_483_647 };
// bigint in number mode: Drizzle (and drizzle-zod) keep it to the safe integers.
const INT53: IdRule = { kind: 'integer', min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
const BIGINT: IdRule = { kind: 'bigint' };

/**
 * Drizzle column classes (`column.columnType`) whose `pk::text` in Postgres is exactly the cache
 * key of a normalized id. Left out on purpose: numeric ('1.50' vs '1.5'), char(n) (blank padding),
 * floats, timestamps and dates (their text depends on DateStyle and TimeZone), boolean ('t'),
 * jsonb, enums and custom types. Keyed by class, so `text('id', { enum })` counts as text.
 */
const RULES: Readonly<Record<string, IdRule>> = {
  PgText: STRING,
  PgVarchar: STRING,
  PgUUID: { kind: 'uuid' },
  PgSmallInt: INT16,
  PgSmallSerial: INT16,
  PgInteger: INT32,
  PgSerial: INT32,
  PgBigInt53: INT53,
  PgBigSerial53: INT53,
  PgBigInt64: BIGINT,
  PgBigSerial64: BIGINT,
};

/** The primary key types a schema may have, for messages and docs. */
const PRIMARY_KEY_TYPES = [
  'text',
  'varchar',
  'uuid',
  'smallint',
  'integer',
  'bigint',
  'serial',
  'smallserial',
  'bigserial',
] as const;

/**
 * The id rule of a primary key column, or INVALID_MODEL when its type is not one Strata can key
 * the caches by (its text in Postgres would differ from the key of the same id in Redis).
 * @example idRuleOf('players', compiled.primaryKey); // { kind: 'string' } for text('id')
 */
export function idRuleOf(schemaName: string, pk: CompiledColumn): IdRule {
  const column: PgColumn = pk.column;
  if (Object.hasOwn(RULES, column.columnType)) return RULES[column.columnType]!;
  throw new StrataError(
    'INVALID_MODEL',
    `schema ${schemaName}: primary key ${pk.key} is ${pk.sqlType}, which Strata cannot key caches by; ` +
      `use one of ${PRIMARY_KEY_TYPES.join(', ')}`,
    { details: { schema: schemaName, field: pk.key, type: pk.sqlType } },
  );
}
