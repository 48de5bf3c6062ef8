import { spawn } from 'node:child_process';
import { once } from 'node:events';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { serviceUrls, uniqueName } from '../src/defaults.js';
import { asAdmin, createScratchDatabase, type ScratchDatabase } from '../src/scratch-database.js';
import { parseScratchMark, scratchMark } from '../src/scratch-mark.js';
import { sweepScratchDatabases } from '../src/scratch-sweep.js';

const server = serviceUrls().databaseUrl;
const made: string[] = [];

afterAll(async () => {
  for (const name of made) await asAdmin(server, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
});

async function exists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await client.end();
  }
}

/** A pid that existed a moment ago and no longer does: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

async function marked(label: string, comment: string | undefined): Promise<string> {
  const name = uniqueName(label);
  await asAdmin(server, `CREATE DATABASE "${name}"`);
  made.push(name);
  if (comment !== undefined) await asAdmin(server, `COMMENT ON DATABASE "${name}" IS '${comment}'`);
  return name;
}

describe('sweepScratchDatabases', () => {
  it('drops only marked databases of this host whose creating process is gone', async () => {
    const live: ScratchDatabase = await createScratchDatabase('sweep_live', server);
    made.push(live.name);
    const dead = await deadPid();
    const orphan = await marked('sweep_orphan', scratchMark(dead));
    const elsewhere = await marked('sweep_elsewhere', scratchMark(dead, 'another-host.example'));
    const unmarked = await marked('sweep_unmarked', undefined);
    const foreign = await marked('sweep_foreign', `not ours; pid=${dead}`);

    const dropped = await sweepScratchDatabases(server);

    expect(await exists(orphan)).toBe(false);
    for (const kept of [live.name, elsewhere, unmarked, foreign]) {
      expect(await exists(kept)).toBe(true);
      expect(dropped).not.toContain(kept);
    }
    await live.drop();
  });

  it('marks what createScratchDatabase creates with this process and host', async () => {
    const scratch = await createScratchDatabase('sweep_mark', server);
    made.push(scratch.name);
    const client = new pg.Client({ connectionString: server });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1",
        [scratch.name],
      );
      expect(parseScratchMark(rows[0].comment)).toEqual(parseScratchMark(scratchMark()));
      expect(parseScratchMark(rows[0].comment)?.pid).toBe(process.pid);
    } finally {
      await client.end();
    }
    await scratch.drop();
  });
});
