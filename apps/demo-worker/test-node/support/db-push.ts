import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** What one `npm run db:push` did: its exit code and everything it printed. */
export interface PushRun {
  code: number;
  output: string;
}

/** `npm run db:push` as the script itself, against `databaseUrl`; never throws on exit 1. */
export async function dbPush(databaseUrl: string): Promise<PushRun> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['scripts/db-push.mjs'], {
      cwd: appDir,
      env: { ...process.env, DATABASE_URL: databaseUrl },
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}
