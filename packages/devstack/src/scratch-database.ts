import pg from 'pg';
import { serviceUrls, uniqueName } from './defaults.js';
import { scratchMark } from './scratch-mark.js';

/** A database of one test run or suite, on the server of `serverUrl`; `drop()` removes it. */
export interface ScratchDatabase {
  readonly name: string;
  /** `serverUrl` with this database as its path: user, password, host and query are kept. */
  readonly url: string;
  /** DROP DATABASE … WITH (FORCE): connections still open to it are closed. Safe to call twice. */
  drop(): Promise<void>;
}

/** `url` pointing at `database` instead of its own. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

export async function asAdmin(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database with a unique name: a suite that creates or pushes tables (drizzle-kit
 * push diffs a whole schema) works there, so it can neither see nor drop what other suites or
 * apps keep in the shared database, and dropping it afterwards removes everything it made.
 * @example
 * const scratch = await createScratchDatabase('db_push'); // on STRATA_DATABASE_URL's server
 * try { await run({ DATABASE_URL: scratch.url }); } finally { await scratch.drop(); }
 */
export async function createScratchDatabase(
  label: string,
  serverUrl: string = serviceUrls().databaseUrl,
): Promise<ScratchDatabase> {
  // uniqueName: lowercase letters, digits and `_`, so quoting it needs no escaping.
  const name = uniqueName(label);
  await asAdmin(serverUrl, `CREATE DATABASE "${name}"`);
  // The mark lets a later run drop it if this process dies before drop() (sweepScratchDatabases).
  await asAdmin(serverUrl, `COMMENT ON DATABASE "${name}" IS '${scratchMark()}'`);
  let dropped = false;
  return {
    name,
    url: withDatabase(serverUrl, name),
    async drop() {
      if (dropped) return;
      await asAdmin(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      dropped = true;
    },
  };
}
