import { sqlStateOf } from '../l3/pg-errors.js';

/**
 * Whether a failed L3 write may have committed all the same. Postgres answering with an error
 * (a SQLSTATE) means it did not; a cut connection, a timeout or an HTTP failure leaves it unknown:
 * the COMMIT may have reached Postgres with only its reply lost, or a timed-out statement may
 * still finish. The caller then drops the keys' cached copies, so reads go to Postgres and see
 * whichever outcome happened.
 */
export function outcomeUnknown(err: unknown): boolean {
  return sqlStateOf(err) === undefined;
}
