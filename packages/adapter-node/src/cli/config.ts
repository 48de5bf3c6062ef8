import { basename, dirname } from 'node:path';
import type { CompiledSchema } from '@strata/core';
import type { CreateStrataOptions } from '../create-strata.js';
import { CliFailure } from './cli-errors.js';
import { type ConfigSource, findConfigFile, importConfigFile } from './config-file.js';

/** What a config module's default export may hold: createStrata options, every field optional. */
type ConfigModule = Partial<CreateStrataOptions>;

function asConfig(path: string, value: unknown): ConfigModule {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliFailure(`${path} must export default an object: { schemas, ...createStrata options }`);
  }
  const schemas = (value as ConfigModule).schemas;
  if (schemas !== undefined && !Array.isArray(schemas)) {
    throw new CliFailure(`${path}: schemas must be an array of defineSchema(...) results`);
  }
  return value as ConfigModule;
}

interface LoadedOptions {
  options: CreateStrataOptions;
  source: ConfigSource;
}

/**
 * createStrata options from the config file and the environment. The file's own fields win: it is
 * code, so it can read the environment itself when it wants something else.
 */
export async function loadOptions(
  named: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<LoadedOptions> {
  const source = findConfigFile(named, cwd);
  const { path } = source;
  const file = path === undefined ? {} : asConfig(path, await importConfigFile(path));
  const databaseUrl = file.databaseUrl ?? env.DATABASE_URL;
  if (!databaseUrl) {
    throw new CliFailure(
      `DATABASE_URL is not set${path === undefined ? '' : ` and ${path} has no databaseUrl`}: strata needs Postgres`,
    );
  }
  const schemas: readonly CompiledSchema[] = file.schemas ?? [];
  const redis = redisFrom(file, env);
  const encryptionKey = file.encryptionKey ?? env.STRATA_ENCRYPTION_KEY;
  assertBuildable(schemas, file, redis, encryptionKey);
  const options: CreateStrataOptions = {
    ...file,
    databaseUrl,
    ...redis,
    ...(encryptionKey !== undefined && encryptionKey !== '' && { encryptionKey }),
    schemas,
    // The CLI writes nothing: a memory queue keeps write-behind schemas valid without this
    // short-lived process taking (and flushing) the writes other instances queued.
    writeBehind: { queue: 'memory' },
    handleSignals: false,
  };
  return { options, source };
}

/**
 * The two settings a config's schemas need before any command can build them, named as a shell user
 * sets them (the engine's own message names config fields): a write-behind schema needs Redis (it
 * orders its writes there), an encrypted field needs the key.
 */
function assertBuildable(
  schemas: readonly CompiledSchema[],
  file: ConfigModule,
  redis: Pick<CreateStrataOptions, 'redisUrl' | 'upstash'>,
  encryptionKey: unknown,
): void {
  const hasRedis = [file.redisUrl, file.upstash, redis.redisUrl, redis.upstash].some((v) => v !== undefined);
  const writeBehind = schemas.find((s) => (s.writeMode ?? file.defaultWriteMode) === 'write-behind');
  if (writeBehind && !hasRedis) {
    throw new CliFailure(
      `schema ${writeBehind.name} is write-behind, which needs Redis for every command: set REDIS_URL, or UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (or redisUrl / upstash in the config)`,
    );
  }
  const encrypted = schemas.find((s) => s.encryptedKeys.length > 0);
  if (encrypted && (encryptionKey === undefined || encryptionKey === '')) {
    throw new CliFailure(
      `schema ${encrypted.name} has encrypted fields: set STRATA_ENCRYPTION_KEY (or encryptionKey in the config) to the app's key`,
    );
  }
}

/** Why `command` has no schema to work on: the config has none, or there is no config. */
export function noSchemas(command: string, source: ConfigSource): CliFailure {
  if (source.path !== undefined) {
    return new CliFailure(
      `${source.path} has no schemas: ${command} needs export default { schemas: [defineSchema(...)] }`,
    );
  }
  const names = source.searched.map((path) => basename(path)).join(', ');
  const dir = source.searched[0] === undefined ? '.' : dirname(source.searched[0]);
  return new CliFailure(
    `${command}: no schemas, no config file found (looked for ${names} in ${dir}): pass --config <file>`,
  );
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
