import { isStrataError, messageOf, StrataError } from '../errors.js';
import { isTransientPgError, pgSqlMessage, sqlStateOf } from '../l3/pg-errors.js';
import { driverError } from './driver-error.js';

/**
 * A failed migrate() as a StrataError, never the driver's own: L3_UNAVAILABLE when Postgres could
 * not be reached or answered (the outcome is unknown: migrate() is idempotent, run it again),
 * INVALID_MODEL when it refused the DDL (a missing grant, an object in the way), with Postgres'
 * SQLSTATE in `details.sqlstate` and the driver's error as `cause`.
 * @example migrationError(Object.assign(new Error('permission denied for schema app'), { code: '42501' })).code; // 'INVALID_MODEL'
 */
export function migrationError(error: unknown): StrataError {
  if (isStrataError(error)) return error;
  const cause = driverError(error);
  const sqlstate = sqlStateOf(cause);
  if (sqlstate === undefined || (isTransientPgError(cause) && !sqlstate.startsWith('42'))) {
    const why = messageOf(cause);
    return new StrataError(
      'L3_UNAVAILABLE',
      `migrate: Postgres did not answer (${why}); once it is reachable (its URL or endpoint; locally, the devstack running), run it again: it is idempotent`,
      {
        cause,
        details: { sqlstate },
      },
    );
  }
  const said = pgSqlMessage(cause) ?? messageOf(cause);
  return new StrataError('INVALID_MODEL', `migrate: Postgres refused the DDL (${sqlstate}: ${said})`, {
    cause,
    details: { sqlstate },
  });
}
