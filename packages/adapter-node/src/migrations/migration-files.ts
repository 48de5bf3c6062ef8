import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { StrataError } from '@strata/core';

/** One `NNN_description.sql` file, read. */
export interface MigrationFile {
  /** The NNN prefix as a number: files apply in this order (2 before 10). */
  readonly number: bigint;
  readonly fileName: string;
  readonly text: string;
  /** SHA-256 of the file's bytes, hex. */
  readonly checksum: string;
}

const MIGRATION_NAME = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_-]*)\.sql$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Meant as a migration: a `.sql` file or one starting with a digit. Others (README.md) are ignored. */
function looksLikeMigration(name: string): boolean {
  return /\.sql$/i.test(name) || /^\d/.test(name);
}

function invalid(message: string, details: Record<string, unknown>, cause?: unknown): StrataError {
  return new StrataError('INVALID_CONFIG', message, { details, cause });
}

/**
 * The migration files of `dir` in numeric order, each read and checksummed. A file that looks like
 * a migration but is misnamed, two files with one number, or text that is not UTF-8 is an error:
 * better refuse the run than apply a directory in an order nobody meant.
 * @example await readMigrationFiles('./migrations'); // [{ number: 1n, fileName: '001_init.sql', … }]
 */
export async function readMigrationFiles(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((cause: unknown) => {
    // A relative dir is read from the process's working directory, which is often not the app's folder.
    const path = resolve(dir);
    const why = (cause as { code?: unknown })?.code === 'ENOENT' ? 'it does not exist' : String(cause);
    throw invalid(
      `cannot read the migrations directory ${dir} (${path}): ${why}. Create it with NNN_description.sql files, or pass the directory's path; migrateFrom is only for SQL files of your own (strata.migrate() and drizzle-kit need none)`,
      { dir, path },
      cause,
    );
  });
  const named: { number: bigint; fileName: string }[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || entry.name.startsWith('.') || !looksLikeMigration(entry.name)) continue;
    const match = MIGRATION_NAME.exec(entry.name);
    if (!match) {
      throw invalid(
        `migration file ${entry.name} is misnamed: expected NNN_description.sql (digits, '_', then letters, digits, '_' or '-')`,
        { file: entry.name },
      );
    }
    named.push({ number: BigInt(match[1]!), fileName: entry.name });
  }
  named.sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0));
  for (let i = 1; i < named.length; i++) {
    if (named[i]!.number === named[i - 1]!.number) {
      throw invalid(`migration files ${named[i - 1]!.fileName} and ${named[i]!.fileName} share a number`, {
        file: named[i]!.fileName,
      });
    }
  }
  return Promise.all(
    named.map(async ({ number, fileName }) => {
      const bytes = await readFile(join(dir, fileName));
      let text: string;
      try {
        text = utf8.decode(bytes);
      } catch (cause) {
        throw invalid(`migration file ${fileName} is not UTF-8`, { file: fileName }, cause);
      }
      return { number, fileName, text, checksum: createHash('sha256').update(bytes).digest('hex') };
    }),
  );
}
