import { rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CliFailure } from './cli-errors.js';

type Esbuild = typeof import('esbuild');

/** Node 20 cannot import TypeScript; esbuild (an optional peer dependency) compiles it. */
async function loadEsbuild(path: string): Promise<Esbuild> {
  try {
    return await import('esbuild');
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new CliFailure(
      `${path} is TypeScript, which strata loads with esbuild: install it (npm install --save-dev esbuild) or write strata.config.mjs`,
      { cause: error },
    );
  }
}

/** esbuild's first error, located: `file:line:column: text`. */
function compileFailure(path: string, error: unknown): CliFailure {
  const errors = (error as { errors?: { text: string; location: EsbuildLocation | null }[] }).errors;
  const first = errors?.[0];
  if (!first) return new CliFailure(`cannot compile config ${path}: ${String(error)}`, { cause: error });
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more error(s))` : '';
  const { location } = first;
  if (!location)
    return new CliFailure(`cannot compile config ${path}: ${first.text}${more}`, { cause: error });
  const file = resolve(location.file);
  const where = `${file}:${location.line}:${location.column + 1}`;
  const text = `${first.text}${more}`;
  return new CliFailure(
    file === path ? `config ${where}: ${text}` : `config ${path} does not compile: ${where}: ${text}`,
    { cause: error },
  );
}

interface EsbuildLocation {
  file: string;
  /** 1-based. */
  line: number;
  /** 0-based. */
  column: number;
}

/**
 * Compiles the TypeScript config `path` into an ES module beside it (so that its imports resolve as
 * they would from the config itself; its relative imports are bundled in, packages stay external),
 * runs `use` on that file, then removes it.
 * @example const value = await withCompiledConfig('/app/strata.config.ts', (js) => import(js));
 */
export async function withCompiledConfig<T>(path: string, use: (compiled: string) => Promise<T>): Promise<T> {
  const esbuild = await loadEsbuild(path);
  const outfile = join(dirname(path), `.${basename(path)}.${process.pid}.mjs`);
  try {
    try {
      await esbuild.build({
        entryPoints: [path],
        outfile,
        bundle: true,
        packages: 'external',
        format: 'esm',
        platform: 'node',
        target: `node${process.versions.node}`,
        sourcemap: 'inline',
        logLevel: 'silent',
      });
    } catch (error) {
      throw compileFailure(path, error);
    }
    return await use(outfile);
  } finally {
    await rm(outfile, { force: true });
  }
}
