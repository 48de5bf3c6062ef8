import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliFailure } from './cli-errors.js';
import { withCompiledConfig } from './compile-ts-config.js';
import { syntaxErrorLocation } from './syntax-location.js';

/** The config files looked for in the working directory when no --config is given. */
const DEFAULT_CONFIG_FILES = [
  'strata.config.ts',
  'strata.config.mts',
  'strata.config.mjs',
  'strata.config.js',
] as const;

/** Where the config came from, for messages that must say what was (or was not) found. */
export interface ConfigSource {
  /** The file loaded; undefined when none was named and none of `searched` exists. */
  path: string | undefined;
  /** Absolute paths looked at. */
  searched: readonly string[];
}

/**
 * The config file to load: the one named (which must exist), else the one default file present in
 * `cwd`. Two default files present is an error: which one wins would be a guess.
 */
export function findConfigFile(named: string | undefined, cwd: string): ConfigSource {
  if (named !== undefined) {
    const path = resolve(cwd, named);
    if (!existsSync(path)) throw new CliFailure(`config file not found: ${path}`);
    return { path, searched: [path] };
  }
  const searched = DEFAULT_CONFIG_FILES.map((file) => resolve(cwd, file));
  const found = searched.filter((path) => existsSync(path));
  if (found.length > 1) {
    throw new CliFailure(
      `several config files in ${cwd} (${found.map((p) => basename(p)).join(', ')}): pass --config <file>`,
    );
  }
  return { path: found[0], searched };
}

const isTypeScript = (path: string): boolean => /\.[cm]?ts$/i.test(path);

/**
 * The default export of the config module `path`, awaited. TypeScript is compiled first. Any
 * failure names the file; a JavaScript syntax error also its line and column.
 * @example await importConfigFile('/app/strata.config.ts'); // { schemas: [...], keyPrefix: 'app' }
 */
export async function importConfigFile(path: string): Promise<unknown> {
  if (isTypeScript(path)) return withCompiledConfig(path, (compiled) => importDefault(compiled, path));
  return importDefault(path, path);
}

async function importDefault(file: string, config: string): Promise<unknown> {
  try {
    const module = (await import(pathToFileURL(file).href)) as { default?: unknown };
    return await module.default;
  } catch (error) {
    throw loadFailure(config, error);
  }
}

function loadFailure(config: string, error: unknown): CliFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof SyntaxError && !isTypeScript(config)) {
    const at = syntaxErrorLocation(config);
    return new CliFailure(
      at
        ? `config ${config}:${at.line}:${at.column}: SyntaxError: ${message}`
        : `cannot load config ${config}: SyntaxError in a module it imports: ${message}`,
      { cause: error },
    );
  }
  return new CliFailure(`cannot load config ${config}: ${message}`, { cause: error });
}
