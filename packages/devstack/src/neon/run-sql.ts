import type pg from 'pg';
import type { PoolRegistry } from './pools.js';
import { type NeonResultJson, toNeonResult } from './result-json.js';
import type { BatchOptions, SqlQuery, SqlRequest } from './sql-request.js';

// Every value stays the text Postgres sent (bytea as `\x..`): the Neon client parses the text
// itself with its own type parsers, so parsing here would only lose information.
const rawText = (value: string): string => value;
const noTypeParsing: pg.CustomTypesConfig = { getTypeParser: () => rawText };

/**
 * Runs a validated request on the pool for its credentials: one query in autocommit, or a batch in
 * one transaction (any failure rolls it back and rethrows). Returns the JSON body to send.
 * @example await runSqlRequest(pools, parseSqlRequest(body, req.headers)) // { fields, rows, ... }
 */
export async function runSqlRequest(
  pools: PoolRegistry,
  request: SqlRequest,
): Promise<NeonResultJson | { results: NeonResultJson[] }> {
  const pool = pools.get(request.credentials);
  const mode = { arrayMode: request.arrayMode, rawTextOutput: request.rawTextOutput };
  if (!request.batch) {
    const [query] = request.queries;
    if (!query) throw new Error('a single-query request carries exactly one query');
    return toNeonResult(await runQuery(pool, query), mode);
  }
  if (request.queries.length === 0) return { results: [] };
  const results = await runBatch(pool, request.queries, request.batchOptions);
  return { results: results.map((result) => toNeonResult(result, mode)) };
}

function runQuery(client: pg.Pool | pg.PoolClient, query: SqlQuery): Promise<pg.QueryArrayResult> {
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
  pool: pg.Pool,
  queries: SqlQuery[],
  options: BatchOptions,
): Promise<pg.QueryArrayResult[]> {
  const client = await pool.connect();
  // A client whose ROLLBACK failed is in an unknown state: hand the error to release() so the pool
  // discards it instead of lending it out mid-transaction.
  let broken: Error | undefined;
  try {
    await client.query(beginStatement(options));
    const results: pg.QueryArrayResult[] = [];
    for (const query of queries) results.push(await runQuery(client, query));
    await client.query('COMMIT');
    return results;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

/** `BEGIN` with the batch headers' transaction modes; the values were validated, never raw input. */
function beginStatement(options: BatchOptions): string {
  const modes: string[] = [];
  if (options.isolationLevel) modes.push(`ISOLATION LEVEL ${options.isolationLevel}`);
  if (options.readOnly !== undefined) modes.push(options.readOnly ? 'READ ONLY' : 'READ WRITE');
  if (options.deferrable !== undefined) modes.push(options.deferrable ? 'DEFERRABLE' : 'NOT DEFERRABLE');
  return modes.length > 0 ? `BEGIN ${modes.join(', ')}` : 'BEGIN';
}
