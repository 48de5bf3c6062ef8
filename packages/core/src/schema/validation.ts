import type { PgTable } from 'drizzle-orm/pg-core';
import { createInsertSchema } from 'drizzle-zod';
import type { ZodType } from 'zod';
import { StrataError } from '../errors.js';

/** The Standard Schema v1 interface (zod, valibot, arktype…), as far as Strata uses it. */
export interface StandardSchemaV1<Output = unknown> {
  readonly '~standard': {
    readonly version: 1;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
  };
}
type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | {
      readonly issues: ReadonlyArray<{
        readonly message: string;
        readonly path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>;
      }>;
    };

/** A schema's extra check: a Standard Schema, or a function that throws or returns an error message. */
/** A function validator returns an error message (a string) to reject; anything else accepts. */
export type RowValidator<Row> = StandardSchemaV1 | ((row: Readonly<Row>) => unknown);

/**
 * Builds the row check: the zod schema Drizzle derives from the table (types, int ranges, NOT NULL
 * without default, unknown keys rejected) and then the schema's own validator.
 */
export function createRowValidator<Row>(
  schemaName: string,
  table: PgTable,
  extra: RowValidator<Row> | undefined,
): (row: unknown) => Promise<Row> {
  const fromTable = (createInsertSchema(table) as unknown as { strict(): ZodType }).strict();
  return async (row) => {
    const parsed = fromTable.safeParse(row);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field =
        issue.code === 'unrecognized_keys'
          ? String(issue.keys[0])
          : issue.path.map(String).join('.') || undefined;
      throw validationFailed(schemaName, field, issue.message, parsed.error);
    }
    // Keep the caller's object (Dates, Uint8Arrays) rather than zod's copy; the check is what matters.
    const value = row as Row;
    if (extra === undefined) return value;
    if (typeof extra === 'function') {
      let message: unknown;
      try {
        message = extra(value);
      } catch (err) {
        throw validationFailed(schemaName, undefined, err instanceof Error ? err.message : String(err), err);
      }
      if (typeof message === 'string') throw validationFailed(schemaName, undefined, message);
      return value;
    }
    const result = await extra['~standard'].validate(value);
    if (result.issues) {
      const issue = result.issues[0]!;
      const field = issue.path?.map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
      throw validationFailed(schemaName, field || undefined, issue.message, result.issues);
    }
    return value;
  };
}

function validationFailed(
  schema: string,
  field: string | undefined,
  message: string,
  cause?: unknown,
): StrataError {
  const where = field ? ` field ${field}` : '';
  return new StrataError('VALIDATION_FAILED', `schema ${schema}${where}: ${message}`, {
    ...(cause !== undefined && { cause }),
    details: { schema, ...(field !== undefined && { field }) },
  });
}
