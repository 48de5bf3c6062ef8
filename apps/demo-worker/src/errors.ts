import { isStrataError } from '@strata/core';
import { schemas } from './db/strata-schemas.js';
import { takenKey } from './unique-violation.js';

/** The JSON body of every error response: a message, and what to fix when the client can fix it. */
interface ErrorBody {
  error: string;
  /** Strata's error code, or the demo's own (`CONFLICT`). */
  code?: string;
  /** The request field at fault. */
  field?: string;
}

/** The JSON body of an error response: Strata's code and message for 4xx, nothing internal for 5xx. */
export function errorBody(err: unknown, status: number): ErrorBody {
  if (isStrataError(err, 'DECODE_FAILED')) {
    // A stored value the demo cannot read (an encrypted field written from outside, say): what and
    // where, never the value or the key.
    const field = typeof err.details?.field === 'string' ? err.details.field : undefined;
    return {
      error: 'a stored value cannot be decoded (written outside Strata?)',
      code: err.code,
      ...(field && { field }),
    };
  }
  if (status >= 500 || !isStrataError(err)) return { error: 'internal error' };
  if (status === 409) {
    // The taken key as Postgres names it (constraint, detail), in the request's field names.
    const taken = takenKey(
      err,
      schemas.find((schema) => schema.name === err.details?.schema),
    );
    if (taken) return conflictBody(taken.fields.join(', '), taken.value);
    return { error: 'already taken', code: 'CONFLICT' };
  }
  return { error: err.message.replace(/^strata: /, ''), code: err.code };
}

/**
 * The 409 body for a taken value, naming the field and the value.
 * @example conflictBody('username', 'ada'); // { error: 'username "ada" is already taken', code: 'CONFLICT', field: 'username' }
 */
export function conflictBody(field: string, value?: string): ErrorBody {
  const what = value === undefined ? field : `${field} ${JSON.stringify(value)}`;
  return { error: `${what} is already taken`, code: 'CONFLICT', field };
}
