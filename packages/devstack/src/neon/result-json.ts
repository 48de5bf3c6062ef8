import type { FieldDef, QueryArrayResult } from 'pg';

/** One result as the Neon HTTP API sends it; `@neondatabase/serverless` reads `fields` and `rows`. */
export interface NeonResultJson {
  command: string;
  rowCount: number | null;
  fields: FieldDef[];
  rows: unknown[];
  rowAsArray: boolean;
}

interface OutputMode {
  arrayMode: boolean;
  rawTextOutput: boolean;
}

// Type OIDs whose text form becomes a JSON number or boolean when raw text output is off. int8 and
// numeric stay strings: a JSON number would lose precision past 2^53.
const BOOL = 16;
const NUMBER_TYPES = new Set([21, 23, 26, 700, 701]); // int2, int4, oid, float4, float8
const JSON_TYPES = new Set([114, 3802]); // json, jsonb

/**
 * Shapes a pg result (run with array row mode and no type parsing) into the Neon reply.
 * @example toNeonResult(result, { arrayMode: true, rawTextOutput: true }).rows // [['1', 't']]
 */
export function toNeonResult(result: QueryArrayResult, mode: OutputMode): NeonResultJson {
  const fields = result.fields.map((field) => ({
    name: field.name,
    dataTypeID: field.dataTypeID,
    tableID: field.tableID,
    columnID: field.columnID,
    dataTypeSize: field.dataTypeSize,
    dataTypeModifier: field.dataTypeModifier,
    format: field.format,
  }));
  const rows = result.rows.map((row) => {
    const values = mode.rawTextOutput ? row : row.map((value, i) => fromText(value, fields[i]?.dataTypeID));
    if (mode.arrayMode) return values;
    // Object mode keys rows by column name; as in node-postgres, a later duplicate name wins.
    return Object.fromEntries(fields.map((field, i) => [field.name, values[i] ?? null]));
  });
  return {
    command: result.command,
    rowCount: typeof result.rowCount === 'number' ? result.rowCount : null,
    fields,
    rows,
    rowAsArray: mode.arrayMode,
  };
}

function fromText(value: unknown, typeId: number | undefined): unknown {
  if (typeof value !== 'string' || typeId === undefined) return value;
  if (typeId === BOOL) return value === 't';
  if (NUMBER_TYPES.has(typeId)) {
    const number = Number(value);
    // NaN and Infinity have no JSON form: keep Postgres' spelling.
    return Number.isFinite(number) ? number : value;
  }
  if (JSON_TYPES.has(typeId)) return JSON.parse(value);
  return value;
}
