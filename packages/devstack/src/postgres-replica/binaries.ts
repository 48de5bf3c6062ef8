import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PostgresReplicaError } from './error.js';

const run = promisify(execFile);

/** Where Debian and Ubuntu put the server binaries, one dir per major version. */
const DEBIAN_ROOT = '/usr/lib/postgresql';

/**
 * The dir holding `initdb`, `postgres` and `pg_basebackup`: `given`, else the newest
 * `/usr/lib/postgresql/<major>/bin` (the server binaries are not on PATH on Debian), else the dir of
 * `pg_config --bindir`.
 */
export async function serverBinDir(given?: string): Promise<string> {
  const has = (dir: string) => ['initdb', 'postgres', 'pg_basebackup'].every((b) => existsSync(join(dir, b)));
  if (given !== undefined) {
    if (has(given)) return given;
    throw new PostgresReplicaError('BINARY_MISSING', `no initdb, postgres and pg_basebackup in ${given}`);
  }
  const majors = existsSync(DEBIAN_ROOT)
    ? readdirSync(DEBIAN_ROOT)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const major of majors) {
    const dir = join(DEBIAN_ROOT, major, 'bin');
    if (has(dir)) return dir;
  }
  try {
    const { stdout } = await run('pg_config', ['--bindir']);
    if (has(stdout.trim())) return stdout.trim();
  } catch {
    // No pg_config either: reported below.
  }
  throw new PostgresReplicaError(
    'BINARY_MISSING',
    `no Postgres server binaries under ${DEBIAN_ROOT}/<version>/bin or pg_config --bindir (apt-get install postgresql)`,
  );
}
