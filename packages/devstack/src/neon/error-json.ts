import pg from 'pg';
import { RequestError } from './sql-request.js';

/** What the endpoint answers for a failed request: status and JSON body. */
interface ErrorReply {
  status: number;
  body: Record<string, string>;
}

// The fields `@neondatabase/serverless` copies from a 400 body onto its NeonDbError (`errorFields`).
const POSTGRES_ERROR_FIELDS = [
  'severity',
  'code',
  'detail',
  'hint',
  'position',
  'internalPosition',
  'internalQuery',
  'where',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'file',
  'line',
  'routine',
] as const;

/**
 * Maps a failure to the Neon reply: Postgres errors are 400 with every field Postgres reported
 * (so the client's error carries `.code` = SQLSTATE and `.position`); request errors keep their
 * status; anything else (backing server unreachable) is a 500 with its message.
 * @example errorReply(new RequestError('missing Neon-Connection-String header')).status // 400
 */
export function errorReply(err: unknown): ErrorReply {
  if (err instanceof pg.DatabaseError) {
    const body: Record<string, string> = { message: err.message };
    for (const field of POSTGRES_ERROR_FIELDS) {
      const value = err[field];
      if (value !== undefined) body[field] = String(value);
    }
    return { status: 400, body };
  }
  if (err instanceof RequestError) return { status: err.status, body: { message: err.message } };
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, body: { message: `Neon local endpoint: ${message}` } };
}
