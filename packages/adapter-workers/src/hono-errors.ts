// Part of `@strata/adapter-workers/hono`. Types only from `hono`: nothing of it loads at run time.
import { isStrataError } from '@strata/core';
import type { ErrorHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** Postgres' unique_violation: a VALIDATION_FAILED a taken unique key raised is a 409, not a 400. */
const UNIQUE_VIOLATION = '23505';

/**
 * The HTTP status of an error a handler let through: a StrataError by its code (NOT_FOUND 404; bad
 * input 400; a taken unique key 409; a tier or the queue down 503; a deadline 504), anything else 500
 * (a configuration error is the server's, not the client's).
 *
 * @example httpStatusOf(new StrataError('NOT_FOUND')); // 404
 */
export function httpStatusOf(err: unknown): ContentfulStatusCode {
  if (!isStrataError(err)) return 500;
  switch (err.code) {
    case 'NOT_FOUND':
      return 404;
    case 'VALIDATION_FAILED':
      return err.details?.sqlstate === UNIQUE_VIOLATION ? 409 : 400;
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

/** The JSON body `strataErrors()` answers with. */
export interface StrataErrorBody {
  error: string;
  /** Strata's error code (4xx, 503, 504): what a client may act on (fix the input, retry later). */
  code?: string;
  /** The field at fault, where Strata names one. */
  field?: string;
}

export interface StrataErrorsOptions {
  /** Called with every 5xx error (default `console.error`): the body says nothing internal. */
  log?: (err: unknown, status: number) => void;
}

/**
 * A Hono `onError` handler that answers Strata's errors by meaning instead of a 500: the status of
 * `httpStatusOf`, and a JSON body with the message and `code` (and `field`) for 4xx, the `code`
 * alone for 503/504, `{ error: 'internal error' }` otherwise (logged). Hono's own `HTTPException`s
 * keep their response.
 *
 * @example
 * import { strata, strataErrors } from '@strata/adapter-workers/hono';
 * app.use(strata({ schemas: [players] }));
 * app.onError(strataErrors()); // a get of a missing id: 404 { error: 'schema players: no row with id p9', code: 'NOT_FOUND' }
 */
export function strataErrors(options: StrataErrorsOptions = {}): ErrorHandler {
  const log = options.log ?? ((err: unknown) => console.error(err));
  return (err, c) => {
    if ('getResponse' in err && typeof err.getResponse === 'function') return err.getResponse() as Response;
    const status = httpStatusOf(err);
    if (status >= 500) log(err, status);
    return c.json(bodyOf(err, status), status);
  };
}

function bodyOf(err: unknown, status: number): StrataErrorBody {
  if (!isStrataError(err) || status === 500) return { error: 'internal error' };
  if (status >= 500)
    return { error: status === 503 ? 'unavailable, retry later' : 'timed out', code: err.code };
  const field = err.details?.field;
  return {
    error: err.message.replace(/^strata: /, ''),
    code: err.code,
    ...(typeof field === 'string' && { field }),
  };
}
