import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CompiledSchema } from '@strata/core';
import type { CreateStrataOptions } from '../create-strata.js';
import { CliFailure } from './cli-errors.js';

/** What a config module's default export may hold: createStrata options, every field optional. */
type ConfigModule = Partial<CreateStrataOptions>;

const DEFAULT_FILES = ['strata.config.mjs', 'strata.config.js'];

/** The config file to load: the one named, else a default one in `cwd` when present. */
function configPath(named: string | undefined, cwd: string): string | undefined {
  if (named !== undefined) {
    const path = resolve(cwd, named);
    if (!existsSync(path)) throw new CliFailure(`config file not found: ${path}`);
    return path;
  }
  return DEFAULT_FILES.map((file) => resolve(cwd, file)).find((path) => existsSync(path));
}

async function importConfig(path: string): Promise<ConfigModule> {
  const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  const value = await module.default;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliFailure(`${path} must export default an object: { schemas, ...createStrata options }`);
  }
  const schemas = (value as ConfigModule).schemas;
  if (schemas !== undefined && !Array.isArray(schemas)) {
    throw new CliFailure(`${path}: schemas must be an array of defineSchema(...) results`);
  }
  return value as ConfigModule;
}

/**
 * createStrata options from the config file and the environment. The file's own fields win: it is
 * code, so it can read the environment itself when it wants something else.
 */
export async function loadOptions(
  named: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<CreateStrataOptions> {
  const path = configPath(named, cwd);
  const file = path === undefined ? {} : await importConfig(path);
  const databaseUrl = file.databaseUrl ?? env.DATABASE_URL;
  if (!databaseUrl) {
    throw new CliFailure(
      `DATABASE_URL is not set${path === undefined ? '' : ` and ${path} has no databaseUrl`}: strata needs Postgres`,
    );
  }
  const schemas: readonly CompiledSchema[] = file.schemas ?? [];
  return {
    ...file,
    databaseUrl,
    ...redisFrom(file, env),
    schemas,
    // The CLI writes nothing: a memory queue keeps write-behind schemas valid without this
    // short-lived process taking (and flushing) the writes other instances queued.
    writeBehind: 'memory',
    handleSignals: false,
  };
}

function redisFrom(
  file: ConfigModule,
  env: NodeJS.ProcessEnv,
): Pick<CreateStrataOptions, 'redisUrl' | 'upstash'> {
  if (file.redisUrl !== undefined || file.upstash !== undefined) return {};
  if (env.REDIS_URL) return { redisUrl: env.REDIS_URL };
  const url = env.UPSTASH_REDIS_REST_URL;
  const token = env.UPSTASH_REDIS_REST_TOKEN;
  if (url && token) return { upstash: { url, token } };
  if (url || token)
    throw new CliFailure('set both UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, or neither');
  return {};
}
