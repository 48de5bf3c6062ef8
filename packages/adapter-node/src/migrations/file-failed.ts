import { type MigrationRecord, StrataError } from '@strata/core';
import type { MigrationFile } from './migration-files.js';

interface PgFailure {
  code: string;
  message: string;
  position?: string;
}

/** The Postgres error in a Drizzle wrapper's cause chain (it has a SQLSTATE `code`). */
function pgFailure(error: unknown): PgFailure | undefined {
  for (
    let e = error, depth = 0;
    e instanceof Object && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const { code, message, position } = e as { code?: unknown; message?: unknown; position?: unknown };
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
      return { code, message: String(message), ...(typeof position === 'string' ? { position } : {}) };
    }
  }
  return undefined;
}

/** The innermost message: a Drizzle wrapper's own repeats the whole file. */
function rootMessage(error: unknown): string {
  let e = error;
  for (let depth = 0; e instanceof Error && e.cause instanceof Error && depth < 5; depth++) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** 1-based line of a 1-based character position in the file, from Postgres' `position`. */
function lineAt(text: string, position: string | undefined): number | undefined {
  const at = Number(position);
  if (!Number.isInteger(at) || at < 1) return undefined;
  return text.slice(0, at - 1).split('\n').length;
}

/**
 * A failed migration file as a StrataError: TX_FAILED with the file, the SQLSTATE and the line when
 * Postgres refused it (its transaction rolled back), L3_UNAVAILABLE when it never got an answer.
 */
export function fileFailed(file: MigrationFile, error: unknown): StrataError {
  const failure = pgFailure(error);
  if (!failure) {
    return new StrataError('L3_UNAVAILABLE', `migration ${file.fileName} failed: ${rootMessage(error)}`, {
      cause: error,
      details: { file: file.fileName },
    });
  }
  const line = lineAt(file.text, failure.position);
  const where = line === undefined ? '' : ` at line ${line}`;
  return new StrataError(
    'TX_FAILED',
    `migration ${file.fileName} failed${where} (SQLSTATE ${failure.code}): ${failure.message}; rolled back, no later file applied`,
    { cause: error, details: { file: file.fileName, sqlstate: failure.code, ...(line ? { line } : {}) } },
  );
}

/**
 * A migrateFrom run's failure with what the run did before it, in `details`: `applied`, the files
 * it applied (they stay applied), and `notApplied`, the failed file and those after it.
 */
export function withRunProgress(
  error: StrataError,
  applied: readonly MigrationRecord[],
  notApplied: readonly MigrationFile[],
): StrataError {
  return new StrataError(error.code, error.message, {
    ...('cause' in error ? { cause: error.cause } : {}),
    details: {
      ...error.details,
      applied: applied.map((record) => record.fileName),
      notApplied: notApplied.map((file) => file.fileName),
    },
  });
}
