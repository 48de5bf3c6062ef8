import type pg from 'pg';
import { type NeonResultJson, toNeonResult } from './result-json.js';
import type { SessionPool } from './session-pool.js';
import type { BatchOptions, SqlQuery, SqlRequest } from './sql-request.js';

// Every value stays the text Postgres sent (bytea as `\x..`): the Neon client parses the text
// itself with its own type parsers, so parsing here would only lose information.
const rawText = (value: string): string => value;
const noTypeParsing: pg.CustomTypesConfig = { getTypeParser: () => rawText };

/**
 * Runs a validated request on a connection for its credentials: one query in autocommit, or a batch
 * in one transaction (any failure rolls it back and rethrows). Each request is a session of its own,
 * as on Neon: whatever it leaves behind (an open `BEGIN`, `SET`, a session advisory lock) is reset
 * before the connection serves another request. Returns the JSON body to send.
 * @example await runSqlRequest(sessions, parseSqlRequest(body, req.headers)) // { fields, rows, ... }
 */
export async function runSqlRequest(
  sessions: SessionPool,
  request: SqlRequest,
): Promise<NeonResultJson | { results: NeonResultJson[] }> {
  const mode = { arrayMode: request.arrayMode, rawTextOutput: request.rawTextOutput };
  if (request.batch && request.queries.length === 0) return { results: [] };
  const session = await sessions.acquire(request.credentials);
  try {
    if (!request.batch) {
      const [query] = request.queries;
      if (!query) throw new Error('a single-query request carries exactly one query');
      return toNeonResult(await runQuery(session.client, query), mode);
    }
    const results = await runBatch(session.client, request.queries, request.batchOptions);
    return { results: results.map((result) => toNeonResult(result, mode)) };
  } finally {
    // After the reply, not before it: the reset costs the client nothing, and the connection is
    // lent again only once it is done (an aborted batch's rows were never visible anyway).
    void resetSession(session.client).then((clean) => session.release(clean));
  }
}

/**
 * Ends any transaction the request left open and drops every trace of its session (settings,
 * prepared statements, temp tables, advisory locks, LISTENs). False when that failed: the
 * connection is then closed instead of reused. Never rejects.
 */
async function resetSession(client: pg.Client): Promise<boolean> {
  try {
    if (client.getTransactionStatus() !== 'I') await client.query('ROLLBACK');
    await client.query('DISCARD ALL');
    return client.getTransactionStatus() === 'I';
  } catch {
    return false;
  }
}

function runQuery(client: pg.Client, query: SqlQuery): Promise<pg.QueryArrayResult> {
  // `queryMode: 'extended'` (not in @types/pg) makes pg use Parse/Bind even without params, as
  // Neon does: one statement per query, so `select 1; select 2` fails here as it does on Neon.
  const config: pg.QueryArrayConfig & { queryMode: 'extended' } = {
    text: query.query,
    values: query.params,
    rowMode: 'array',
    types: noTypeParsing,
    queryMode: 'extended',
  };
  return client.query(config);
}

async function runBatch(
  client: pg.Client,
  queries: SqlQuery[],
  options: BatchOptions,
): Promise<pg.QueryArrayResult[]> {
  await client.query(beginStatement(options));
  const results: pg.QueryArrayResult[] = [];
  // A failure leaves the transaction aborted: resetSession rolls it back.
  for (const query of queries) results.push(await runQuery(client, query));
  await client.query('COMMIT');
  return results;
}

/** `BEGIN` with the batch headers' transaction modes; the values were validated, never raw input. */
function beginStatement(options: BatchOptions): string {
  const modes: string[] = [];
  if (options.isolationLevel) modes.push(`ISOLATION LEVEL ${options.isolationLevel}`);
  if (options.readOnly !== undefined) modes.push(options.readOnly ? 'READ ONLY' : 'READ WRITE');
  if (options.deferrable !== undefined) modes.push(options.deferrable ? 'DEFERRABLE' : 'NOT DEFERRABLE');
  return modes.length > 0 ? `BEGIN ${modes.join(', ')}` : 'BEGIN';
}
