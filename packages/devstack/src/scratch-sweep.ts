import pg from 'pg';
import { asAdmin } from './scratch-database.js';
import { parseScratchMark, processAlive, scratchMark } from './scratch-mark.js';

/**
 * Drops the scratch databases that runs on this host left when they died before their teardown:
 * only databases whose comment is `createScratchDatabase`'s mark, naming this host and a process
 * that no longer runs. Databases of live runs (other worktrees, parallel suites), of other hosts
 * and everything unmarked are left alone. Returns the names it dropped.
 * @example
 * await sweepScratchDatabases(stack.postgres.url); // in a global setup, before creating its own
 */
export async function sweepScratchDatabases(serverUrl: string): Promise<string[]> {
  const here = parseScratchMark(scratchMark())!.host;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  let marked: { datname: string; comment: string | null }[];
  try {
    const result = await client.query(
      `SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database
        WHERE shobj_description(oid, 'pg_database') LIKE 'strata scratch database;%'`,
    );
    marked = result.rows;
  } finally {
    await client.end();
  }
  const dropped: string[] = [];
  for (const { datname, comment } of marked) {
    const mark = parseScratchMark(comment);
    if (!mark || mark.host !== here || processAlive(mark.pid)) continue;
    // The name came from uniqueName (letters, digits, _); quoted with "" doubled all the same.
    await asAdmin(serverUrl, `DROP DATABASE IF EXISTS "${datname.replace(/"/g, '""')}" WITH (FORCE)`);
    dropped.push(datname);
  }
  return dropped;
}
