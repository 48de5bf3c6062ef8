/**
 * Codes of a connection that broke under a call: Node's errno for a reset, a write after the peer
 * closed, an abort; undici's for a socket that closed mid-request (fetch). A SQLSTATE of class 08
 * (connection exception), 57P01 (admin_shutdown: the backend was terminated, as in a failover) or
 * 57P02 (crash_shutdown). Not ECONNREFUSED or a DNS failure (no connection was made), not 57014 (a
 * statement timeout or cancel: Postgres judged the statement, not the connection).
 */
const LOST_CODE = /^(?:ECONNRESET|EPIPE|ECONNABORTED|UND_ERR_SOCKET|08[0-9A-Z]{3}|57P0[12])$/;

/**
 * What drivers say when a connection ends under a query, with no code: node-postgres (and the pg
 * inside neon-serverless) "Connection terminated unexpectedly", "Connection terminated" (its client
 * ended), "Client has encountered a connection error and is not queryable", "Client was closed and
 * is not queryable" (a pool client that ended); Workers' fetch "Network connection lost.". Anchored:
 * pg's "Connection terminated due to connection timeout" is a timeout, not a cut.
 */
const LOST_MESSAGE =
  /^(?:connection terminated(?: unexpectedly)?|network connection lost\.?)$|and is not queryable$/i;

/**
 * True when an L3 call failed because its connection was lost (cut, reset, ended, its backend
 * terminated), as the error or one beneath it says (Drizzle's and undici's `cause`, neon-http's
 * `sourceError`); false when Postgres judged the statement (any other SQLSTATE: syntax, permission,
 * constraint, statement timeout) or Strata's own deadline passed (TIMEOUT: no such code or message).
 * An idempotent read that failed so may be sent again on another connection (engine/read-retry.ts);
 * a write may not (its outcome is unknown: engine/unknown-outcome.ts).
 * @example connectionLost(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })); // true
 * @example connectionLost({ code: '42501' }); // false: a missing grant
 */
export function connectionLost(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { code, message, cause, sourceError } = e as Record<string, unknown>;
    if (LOST_CODE.test(String(code)) || LOST_MESSAGE.test(String(message))) return true;
    e = cause ?? sourceError;
  }
  return false;
}
