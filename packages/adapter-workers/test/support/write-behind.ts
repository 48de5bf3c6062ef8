/**
 * What the write-behind tests share: a test table of their own (migrated by a Strata, dropped after),
 * producer Stratas over it, Postgres reads, and the consumer's records in Redis.
 */
import { env } from 'cloudflare:workers';
import { neon, neonConfig } from '@neondatabase/serverless';
import type { Strata } from '@strata/core';
import type { QueuedWrite } from '@strata/core/driver';
import { uniqueName } from '@strata/devstack/testing';
import { vi } from 'vitest';
import type { QueueProducer } from '../../src/cloudflare/index.js';
import {
  WB_TABLE_PREFIX,
  type WbLogEntry,
  type WbSchema,
  wbDeadKey,
  wbLogKey,
  wbSchema,
  wbStrata,
} from '../fixtures/wb-app.js';
import { upstashCommand } from './upstash-rest.js';

neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;
const sql = neon(env.DATABASE_URL);
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };

export interface ItemRow {
  id: string;
  name: string;
  level: number;
  note: string | null;
}

export interface WbTestTable {
  readonly table: string;
  readonly schema: WbSchema;
  /** The keyPrefix of the table's producers (its app's). */
  readonly keyPrefix: string;
  /** A new Strata instance (its own L1, like another isolate) producing to `queue` (default `env.WB`). */
  producer(queue?: QueueProducer): Strata;
  /** A hand-made write of this table, e.g. to replay an older version. */
  write(id: string, version: number, row?: Partial<ItemRow>): QueuedWrite;
  row(id: string): Promise<ItemRow | undefined>;
  count(idPrefix: string): Promise<number>;
  /** `_strata_versions`: the version Postgres last applied for this id. */
  version(id: string): Promise<number | undefined>;
  log(): Promise<WbLogEntry[]>;
  deadLetters(): Promise<unknown[]>;
  cleanup(): Promise<void>;
}

/** A table for one test file: `migrate()`d now, dropped by `cleanup()` with its versions and Redis keys. */
export async function wbTestTable(label: string): Promise<WbTestTable> {
  const table = `${WB_TABLE_PREFIX}${uniqueName(label)}`;
  const keyPrefix = uniqueName(`${label}_l2`);
  const schema = wbSchema(table);
  const instances: Strata[] = [];
  const producer = (queue?: QueueProducer) => {
    const strata = wbStrata(env, { keyPrefix, schemas: [schema], ...(queue && { queue }) });
    instances.push(strata);
    return strata;
  };
  await producer().migrate();
  const list = async (key: string) =>
    ((await upstashCommand(upstash, ['LRANGE', key, 0, -1])) as string[]).map(
      (s) => JSON.parse(s) as unknown,
    );
  return {
    table,
    schema,
    keyPrefix,
    producer,
    write: (id, version, row = {}) => ({
      schema: table,
      id,
      op: 'set',
      row: JSON.stringify({ id, name: `n-${id}`, level: 0, note: null, ...row }),
      version,
    }),
    row: async (id) =>
      (await sql.query(`select id, name, level, note from "${table}" where id = $1`, [id]))[0] as
        | ItemRow
        | undefined,
    count: async (idPrefix) =>
      Number(
        (await sql.query(`select count(*) as n from "${table}" where id like $1`, [`${idPrefix}%`]))[0]?.n,
      ),
    version: async (id) => {
      const [found] = await sql.query('select version from _strata_versions where schema = $1 and id = $2', [
        table,
        id,
      ]);
      return found === undefined ? undefined : Number(found.version);
    },
    log: async () => (await list(wbLogKey(table))) as WbLogEntry[],
    deadLetters: () => list(wbDeadKey(table)),
    cleanup: async () => {
      for (const strata of instances) await strata.close();
      await sql.query(`drop table if exists "${table}"`);
      await sql.query('delete from _strata_versions where schema = $1', [table]);
      const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
      await upstashCommand(upstash, ['DEL', wbLogKey(table), wbDeadKey(table), ...keys]);
    },
  };
}

/**
 * Polls `probe` until it returns something other than false/undefined, and returns that. Bounded:
 * fails after `timeout` ms with what the probe saw last, never a blind sleep.
 */
export async function waitFor<T>(
  label: string,
  probe: () => Promise<T | false | undefined>,
  timeout = 15_000,
): Promise<T> {
  let last: unknown;
  try {
    return await vi.waitUntil(
      async () => {
        const seen = await probe();
        last = seen;
        return seen === false || seen === undefined ? false : seen;
      },
      { timeout, interval: 50 },
    );
  } catch (err) {
    throw new Error(`${label}: not after ${timeout} ms (last: ${JSON.stringify(last)})`, { cause: err });
  }
}
