import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOk } from './consumer-project.js';
import type { EntryPoint } from './workspace-packages.js';

const checkDeclarations = fileURLToPath(new URL('./check-declarations.mjs', import.meta.url));

export type Resolution = 'bundler' | 'node16' | 'nodenext';

const MODULE: Record<Resolution, string> = { bundler: 'esnext', node16: 'node16', nodenext: 'nodenext' };

/** A module that imports every entry point, so the check covers each one's declarations. */
export async function writeImportAll(dir: string, entries: readonly EntryPoint[]): Promise<string> {
  const file = 'import-all.ts';
  const lines = entries.map((entry, i) => `export * as entry${i} from '${entry.specifier}';`);
  await writeFile(join(dir, file), `${lines.join('\n')}\n`);
  return file;
}

export interface TypecheckResult {
  /** Errors in the project's files and the @strata declarations, as tsc prints them. */
  errors: string[];
  /** The files checked: the project's own and every @strata declaration the program read. */
  checked: string[];
}

/** Type-checks `file` as a strict consumer under `resolution` with skipLibCheck false. */
export async function typecheck(dir: string, file: string, resolution: Resolution): Promise<TypecheckResult> {
  const config = `tsconfig.${resolution}.json`;
  const compilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    target: 'es2022',
    lib: ['es2023'],
    types: ['node'],
    module: MODULE[resolution],
    moduleResolution: resolution,
  };
  await writeFile(join(dir, config), JSON.stringify({ compilerOptions, files: [file] }, null, 2));
  const { stdout } = await runOk(process.execPath, [checkDeclarations, config], dir);
  return JSON.parse(stdout) as TypecheckResult;
}
