import { DrizzleQueryError } from 'drizzle-orm';

function isQueryWrapper(error: unknown): error is Error & { cause: unknown } {
  if (error instanceof DrizzleQueryError) return true;
  // Another copy of drizzle-orm fails instanceof: recognise the wrapper by its shape.
  if (!(error instanceof Error)) return false;
  const fields = error as Error & { query?: unknown; params?: unknown };
  return typeof fields.query === 'string' && Array.isArray(fields.params) && error.cause !== undefined;
}

/**
 * The driver's own error out of Drizzle's `DrizzleQueryError`: it carries the Postgres SQLSTATE as
 * `code` (23502, 40001, …) for the engine to map, and not the statement with every parameter value
 * in its message (a 13,000-row upsert would put all its data into the log line).
 * @example try { await db.insert(t).values(rows); } catch (e) { throw driverError(e); }
 */
export function driverError(error: unknown): unknown {
  return isQueryWrapper(error) ? error.cause : error;
}

/**
 * Runs a driver call; a failure rejects with the driver's own error (it has the SQLSTATE `code`).
 * @example const rows = await runDriver(() => db.select().from(players));
 */
export async function runDriver<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw driverError(error);
  }
}
