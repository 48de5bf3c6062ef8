import type { IncomingHttpHeaders } from 'node:http';
import type { Credentials } from './session-pool.js';

/** A request the client got wrong: answered with its status and `{ message }`. */
export class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface SqlQuery {
  query: string;
  params: unknown[];
}

export interface BatchOptions {
  /** SQL spelling, e.g. `SERIALIZABLE`. */
  isolationLevel?: string;
  readOnly?: boolean;
  deferrable?: boolean;
}

/** One `POST /sql` request, validated. */
export interface SqlRequest {
  credentials: Credentials;
  /** `true` for a `{ queries }` body: run them in one transaction and reply `{ results }`. */
  batch: boolean;
  queries: SqlQuery[];
  /** `Neon-Array-Mode: true`: rows as arrays rather than objects keyed by column name. */
  arrayMode: boolean;
  /** `Neon-Raw-Text-Output: true`: every value as the text Postgres sent. */
  rawTextOutput: boolean;
  batchOptions: BatchOptions;
}

// The client sends the names of its `isolationLevel` option (ReadCommitted...); compare letters only
// so the SQL spellings (`read committed`, `READ_COMMITTED`) are accepted as well.
const isolationLevels: Record<string, string> = {
  readuncommitted: 'READ UNCOMMITTED',
  readcommitted: 'READ COMMITTED',
  repeatableread: 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
};

/**
 * Validates a `POST /sql` body and its Neon headers; throws `RequestError` on anything malformed.
 * @example parseSqlRequest('{"query":"select $1","params":[1]}', { 'neon-connection-string': url })
 */
export function parseSqlRequest(body: string, headers: IncomingHttpHeaders): SqlRequest {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new RequestError('request body is not valid JSON');
  }
  if (!isRecord(json)) throw new RequestError('request body must be a JSON object');
  const batch = 'queries' in json;
  let queries: SqlQuery[];
  if (batch) {
    if (!Array.isArray(json.queries)) throw new RequestError('"queries" must be an array');
    queries = json.queries.map((entry, i) => parseQuery(entry, `queries[${i}]`));
  } else {
    queries = [parseQuery(json, 'body')];
  }
  const isolation = header(headers, 'neon-batch-isolation-level');
  const readOnly = booleanHeader(headers, 'neon-batch-read-only');
  const deferrable = booleanHeader(headers, 'neon-batch-deferrable');
  const batchOptions: BatchOptions = {
    ...(isolation !== undefined && { isolationLevel: parseIsolationLevel(isolation) }),
    ...(readOnly !== undefined && { readOnly }),
    ...(deferrable !== undefined && { deferrable }),
  };
  return {
    credentials: parseConnectionString(header(headers, 'neon-connection-string')),
    batch,
    queries,
    arrayMode: booleanHeader(headers, 'neon-array-mode') ?? false,
    rawTextOutput: booleanHeader(headers, 'neon-raw-text-output') ?? false,
    batchOptions,
  };
}

function parseQuery(value: unknown, where: string): SqlQuery {
  if (!isRecord(value) || typeof value.query !== 'string') {
    throw new RequestError(`${where} must be an object with a string "query"`);
  }
  const params = value.params ?? [];
  if (!Array.isArray(params)) throw new RequestError(`${where}.params must be an array`);
  return { query: value.query, params };
}

function parseConnectionString(value: string | undefined): Credentials {
  if (!value) throw new RequestError('missing Neon-Connection-String header');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RequestError('Neon-Connection-String is not a valid URL');
  }
  const user = decodeURIComponent(url.username);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if ((url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') || !user || !database) {
    throw new RequestError('Neon-Connection-String must be postgres://user[:password]@host/database');
  }
  const applicationName = url.searchParams.get('application_name');
  return {
    user,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database,
    ...(applicationName && { applicationName }),
  };
}

function parseIsolationLevel(value: string): string {
  const level = isolationLevels[value.toLowerCase().replace(/[^a-z]/g, '')];
  if (!level) {
    throw new RequestError(
      `Neon-Batch-Isolation-Level must be ReadUncommitted, ReadCommitted, RepeatableRead or Serializable, not ${value}`,
    );
  }
  return level;
}

function booleanHeader(headers: IncomingHttpHeaders, name: string): boolean | undefined {
  const value = header(headers, name)?.toLowerCase();
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new RequestError(`${name} must be true or false, not ${value}`);
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
