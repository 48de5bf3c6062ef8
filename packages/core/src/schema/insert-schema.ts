import { getTableColumns } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import * as check from '../check/checks.js';

// Column bounds, as drizzle-zod 0.8 draws them.
const INT16: Bounds = [-32_768, 32_767, true];
const INT32: Bounds = [-2_147_483_648, 2_147_483_647, true];
const SAFE_INT: Bounds = [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true];
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** [min, max, integer] of a number column. */
type Bounds = readonly [number, number, boolean];
const NUMBER_BOUNDS: Readonly<Record<string, Bounds>> = {
  PgSmallInt: INT16,
  PgSmallSerial: INT16,
  // drizzle-zod's bounds for real and double precision (±2^23 and ±2^47), kept so the same rows pass.
  PgReal: [-8_388_608, 8_388_607, false],
  PgInteger: INT32,
  PgSerial: INT32,
  PgDoublePrecision: [-140_737_488_355_328, 140_737_488_355_327, false],
  PgBigInt53: SAFE_INT,
  PgBigSerial53: SAFE_INT,
};
const ANY_NUMBER: Bounds = [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, false];

// drizzle-zod's json: a string, finite number, boolean, null, array or plain object with string keys.
const json = check.custom(
  (v) =>
    v === null ||
    typeof v === 'string' ||
    typeof v === 'boolean' ||
    (typeof v === 'number' && Number.isFinite(v)) ||
    Array.isArray(v) ||
    isPlainRecord(v),
);

/** The parts of Drizzle's column classes this reads beyond `PgColumn` (set only on some classes). */
type ColumnShape = PgColumn & {
  enumValues?: readonly string[];
  baseColumn?: PgColumn;
  dimensions?: number;
  size?: number;
  length?: number;
  generatedIdentity?: { type?: string };
};

/**
 * The check of a row to insert into `table`: what drizzle-zod's `createInsertSchema(table)`, made
 * strict, checks for Postgres columns, with the same messages (insert-schema.test.ts compares them).
 * drizzle-zod loads all of zod, which was most of a Worker's bundle. Columns GENERATED ALWAYS are
 * left out (so refused, the object being strict); a nullable column takes null; one that is
 * nullable or has a default may be absent.
 * @example insertSchema(players)({ id: 'p1', username: 'ada' }, []) // undefined: no issue
 */
export function insertSchema(table: PgTable): check.Check {
  const shape: Record<string, check.Check> = {};
  for (const [key, column] of Object.entries(getTableColumns(table)) as [string, ColumnShape][]) {
    if (column.generated?.type === 'always' || column.generatedIdentity?.type === 'always') continue;
    let schema = columnSchema(column);
    if (!column.notNull) schema = check.nullable(schema);
    if (!column.notNull || column.hasDefault) schema = check.optional(schema);
    shape[key] = schema;
  }
  return check.strictObject(shape);
}

function columnSchema(column: ColumnShape): check.Check {
  if (Array.isArray(column.enumValues) && column.enumValues.length > 0) return check.oneOf(column.enumValues);
  switch (column.columnType) {
    case 'PgGeometry':
    case 'PgPointTuple':
      return check.tuple([check.number(), check.number()]);
    case 'PgGeometryObject':
    case 'PgPointObject':
      return check.object({ x: check.number(), y: check.number() });
    case 'PgHalfVector':
    case 'PgVector':
      return arrayOf(check.number(), column.dimensions);
    case 'PgLine':
      return check.tuple([check.number(), check.number(), check.number()]);
    case 'PgLineABC':
      return check.object({ a: check.number(), b: check.number(), c: check.number() });
    case 'PgArray':
      return arrayOf(columnSchema(column.baseColumn as ColumnShape), column.size);
  }
  switch (column.dataType) {
    case 'array':
      return check.array(check.unknown);
    case 'number': {
      const [min, max, integer] = NUMBER_BOUNDS[column.columnType] ?? ANY_NUMBER;
      const bounds = [check.gte(min), check.lte(max)];
      return integer ? check.number(check.int, ...bounds) : check.number(...bounds);
    }
    case 'bigint':
      return check.bigint(check.gte(INT64_MIN), check.lte(INT64_MAX));
    case 'boolean':
      return check.boolean();
    case 'date':
      return check.date();
    case 'string':
      return stringSchema(column);
    case 'json':
      return json;
    default:
      return check.unknown; // custom types (bytea among them): their own toDriver decides
  }
}

function stringSchema(column: ColumnShape): check.Check {
  switch (column.columnType) {
    case 'PgUUID':
      return check.string(check.uuid);
    case 'PgVarchar':
      return column.length ? check.string(check.maxCharacters(column.length)) : check.string();
    case 'PgChar':
      // char without a length is char(1); shorter text is padded (see stored-form.ts).
      return check.string(check.maxCharacters(column.length ?? 1));
    case 'PgBinaryVector': {
      const bits = check.pattern(/^[01]+$/);
      return column.dimensions ? check.string(bits, check.maxLength(column.dimensions)) : check.string(bits);
    }
    default:
      return check.string();
  }
}

function arrayOf(item: check.Check, length: number | undefined): check.Check {
  return length ? check.array(item, check.length(length)) : check.array(item);
}

/** zod's record input: a plain object (zod's test, which lets other realms' objects pass), no enumerable symbol keys. */
function isPlainRecord(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const made: unknown = (value as { constructor?: unknown }).constructor;
  if (typeof made === 'function') {
    const proto: unknown = made.prototype;
    if (typeof proto !== 'object' || proto === null || Array.isArray(proto)) return false;
    if (!Object.hasOwn(proto, 'isPrototypeOf')) return false;
  }
  return Object.getOwnPropertySymbols(value).every(
    (key) => !Object.prototype.propertyIsEnumerable.call(value, key),
  );
}
