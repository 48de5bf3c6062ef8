import { isStrataError, type StrataError } from '@strata/core';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** Postgres' unique_violation: a username (or id) that is taken. */
const UNIQUE_VIOLATION = '23505';

/** The HTTP status of an error a handler let through: StrataError codes by meaning, anything else 500. */
export function httpStatusOf(err: unknown): ContentfulStatusCode {
  if (!isStrataError(err)) return 500;
  switch (err.code) {
    case 'NOT_FOUND':
      return 404;
    case 'VALIDATION_FAILED':
      return sqlstateOf(err) === UNIQUE_VIOLATION ? 409 : 400;
    case 'INVALID_QUERY':
    case 'MISSING_PRIMARY_KEY':
      return 400;
    case 'L2_UNAVAILABLE':
    case 'L3_UNAVAILABLE':
    case 'UNAVAILABLE':
    case 'QUEUE_UNAVAILABLE':
      return 503;
    case 'TIMEOUT':
    case 'TX_TIMEOUT':
      return 504;
    default:
      return 500;
  }
}

/** The JSON body of an error response: Strata's code and message for 4xx, nothing internal for 5xx. */
export function errorBody(err: unknown, status: number): { error: string; code?: string } {
  if (status >= 500 || !isStrataError(err)) return { error: 'internal error' };
  if (status === 409) return { error: 'conflict: already exists', code: err.code };
  return { error: err.message.replace(/^strata: /, ''), code: err.code };
}

function sqlstateOf(err: StrataError): unknown {
  return err.details?.sqlstate;
}
