import { toHex } from '../bytes.js';
import { StrataError } from '../errors.js';

/** Postgres keeps the first NAMEDATALEN - 1 bytes of an identifier and silently drops the rest. */
const MAX_IDENTIFIER_BYTES = 63;

const encoder = new TextEncoder();

function rejectNul(text: string, what: string): void {
  // Postgres cannot store U+0000 in a name or a text literal; refuse it rather than let it cut the SQL.
  if (text.includes('\u0000')) {
    throw new StrataError('INVALID_MODEL', `${what} contains a NUL character`);
  }
}

/**
 * A double-quoted SQL identifier, `"` doubled: any name (quotes, spaces, unicode) stays one identifier.
 * @example quoteIdentifier('we"ird'); // '"we""ird"'
 */
export function quoteIdentifier(name: string): string {
  rejectNul(name, `identifier ${JSON.stringify(name)}`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."name"`, or `"name"` when the table lives on the search path. */
export function qualifiedName(schema: string | undefined, name: string): string {
  return schema === undefined ? quoteIdentifier(name) : `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`;
}

/**
 * The name as Postgres stores it: cut to 63 UTF-8 bytes at a character boundary. Introspection
 * compares against this, or a long index name would look missing on every run.
 * @example storedIdentifier('x'.repeat(70)).length; // 63
 */
export function storedIdentifier(name: string): string {
  if (encoder.encode(name).length <= MAX_IDENTIFIER_BYTES) return name;
  let bytes = 0;
  let out = '';
  for (const char of name) {
    const size = encoder.encode(char).length;
    if (bytes + size > MAX_IDENTIFIER_BYTES) break;
    bytes += size;
    out += char;
  }
  return out;
}

/**
 * A SQL string literal. With a backslash in it, an `E''` literal with backslashes doubled: that reads
 * the same whatever `standard_conforming_strings` says, where a plain literal would not.
 * @example quoteLiteral("it's"); // "'it''s'"
 */
export function quoteLiteral(text: string): string {
  rejectNul(text, 'a string literal');
  const quoted = text.replaceAll("'", "''");
  return text.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

/** A bytea constant that does not depend on `bytea_output` or string-escaping settings. */
function byteaLiteral(bytes: Uint8Array): string {
  return `decode('${toHex(bytes)}', 'hex')`;
}

/** Renders a driver value (what a Drizzle column's `mapToDriverValue` returns) as a SQL constant. */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return quoteLiteral(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : quoteLiteral(String(value));
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (value instanceof Uint8Array) return byteaLiteral(value);
  if (value instanceof Date) return quoteLiteral(value.toISOString());
  return quoteLiteral(JSON.stringify(value));
}
