import { execFile } from 'node:child_process';
import { chown } from 'node:fs/promises';
import { promisify } from 'node:util';
import { PostgresReplicaError } from './error.js';

const run = promisify(execFile);

/** Who runs the Postgres binaries: nobody else (not root), or the `postgres` system user (root). */
export interface RunAs {
  uid?: number;
  gid?: number;
}

/**
 * Postgres refuses to run as root. As root the binaries run as the `postgres` system user (the
 * Debian package makes it); as anyone else, as that user.
 */
export async function runAs(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (err) {
    throw new PostgresReplicaError(
      'BINARY_MISSING',
      'running as root, and there is no postgres system user to run Postgres as',
      { cause: err },
    );
  }
}

/** Gives a dir this start made to the user the binaries run as (nothing to do when not root). */
export async function handOver(dir: string, user: RunAs): Promise<void> {
  if (user.uid !== undefined) await chown(dir, user.uid, user.gid ?? user.uid);
}
