/**
 * `createStrata(env, options)` in workerd against the devstack bindings: one Strata per env object
 * and schema list, built from the bindings (Upstash L2, Neon HTTP L3, log bus, queue binding).
 */
import { env } from 'cloudflare:workers';
import { neon, neonConfig } from '@neondatabase/serverless';
import { defineSchema, isStrataError, type Strata } from '@strata/core';
import { drizzleMigrate } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStrata } from '../src/index.js';
import { upstashCommand } from './support/upstash-rest.js';
import { waitFor } from './support/write-behind.js';

const tableName = uniqueName('cs_players');
const keyPrefix = uniqueName('cs');
const players = defineSchema({
  table: pgTable(tableName, {
    id: text('id').primaryKey(),
    username: text('username').notNull(),
    level: integer('level').notNull().default(1),
  }),
  l1: { ttl: '60s' },
  l2: { ttl: '5m' },
});
const otherName = uniqueName('cs_other');
const other = defineSchema({ table: pgTable(otherName, { id: text('id').primaryKey() }) });

const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const built = new Set<Strata>();
const strataFor = (bindings: object, schemas: Parameters<typeof createStrata>[1]['schemas']) => {
  const strata = createStrata(bindings, { schemas, keyPrefix, drizzleMigrate });
  built.add(strata);
  return strata;
};

beforeAll(async () => {
  await strataFor(env, [players, other]).migrate();
});
afterAll(async () => {
  for (const strata of built) await strata.close();
  const sql = neon(env.DATABASE_URL);
  await sql.query(`drop table if exists "${tableName}"`);
  await sql.query(`drop table if exists "${otherName}"`);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}*`])) as string[]; // _env's too
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

describe('createStrata', () => {
  it('returns one instance per env object and schema list', () => {
    const first = strataFor(env, [players]);
    expect(strataFor(env, [players])).toBe(first);
    // Same names, new schema objects (as if rebuilt per request): still the same instance.
    expect(strataFor(env, [defineSchema({ table: players.table })])).toBe(first);
    expect(strataFor(env, [players, other])).not.toBe(first);
    expect(strataFor({ ...env }, [players])).not.toBe(first);
    // Another tenant's table of the same name (same schema name, another Postgres schema): another
    // app. It got the first tenant's Strata before (SCHEMA_NOT_FOUND on its writes, the other
    // tenant's rows by name): reliability/test/probe-deploy-hono-tenants.test.ts.
    const tenantTable = pgSchema(uniqueName('cs_tenant')).table(tableName, { id: text('id').primaryKey() });
    const tenant = defineSchema({ table: tenantTable });
    expect(tenant.name).toBe(players.name);
    expect(strataFor(env, [tenant])).not.toBe(first);
  });

  it('builds L2, L3 and the log bus from the bindings: a write on one isolate is read by another', async () => {
    const a = strataFor(env, [players]);
    const b = strataFor({ ...env }, [players]); // another env object: another instance, empty L1
    await a.set(players, { id: 'p1', username: 'ada' });
    await a.settled();
    const rows = await neon(env.DATABASE_URL).query(`select id, username from "${tableName}"`);
    expect(rows).toEqual([{ id: 'p1', username: 'ada' }]);
    expect(await b.get(players, 'p1')).toEqual({ id: 'p1', username: 'ada', level: 1 });
    expect(b.stats()).toMatchObject({ hits: { l2: 1 }, l3Reads: 0, errors: 0 });

    // The write's invalidation reaches b's L1 through the log bus (its stream is under keyPrefix),
    // read at most every coherence.pollInterval (1 s by default).
    await a.set(players, { id: 'p1', username: 'grace' });
    await a.settled();
    const seen = await waitFor('b reads the new name', async () => {
      const row = await b.get(players, 'p1');
      return row.username === 'grace' && row;
    });
    expect(seen).toEqual({ id: 'p1', username: 'grace', level: 1 });
    expect(b.stats().invalidationsApplied).toBeGreaterThanOrEqual(1);
    expect(await upstashCommand(upstash, ['XLEN', `${keyPrefix}:invalidate:log`])).toBeGreaterThanOrEqual(2);
  });

  it('takes the keyPrefix from the STRATA_KEY_PREFIX binding when the options name none', async () => {
    // The Hono middleware's options are fixed at module scope: a test or staging database needs
    // its own prefix from the bindings, as the encryption key comes from STRATA_ENCRYPTION_KEY.
    const fromBinding = `${keyPrefix}_env`;
    const bindings = { ...env, STRATA_KEY_PREFIX: fromBinding };
    const strata = createStrata(bindings, { schemas: [players] });
    built.add(strata);
    await strata.set(players, { id: 'p-env', username: 'env' });
    await strata.settled();
    const keys = (await upstashCommand(upstash, ['KEYS', `*:${tableName}:*:r:p-env`])) as string[];
    expect(keys.map((key) => key.split(':')[0])).toEqual([fromBinding]);
    // An explicit option still wins over the binding; an empty binding is no prefix (the default).
    const explicit = createStrata(bindings, { schemas: [players], keyPrefix });
    built.add(explicit);
    expect(explicit).not.toBe(strata);
    expect(createStrata(bindings, { schemas: [players], keyPrefix: fromBinding })).toBe(strata);
  });

  it('refuses missing settings with INVALID_CONFIG naming the binding', () => {
    const { UPSTASH_REDIS_REST_TOKEN: _token, ...withoutToken } = env;
    let caught: unknown;
    try {
      createStrata(withoutToken, { schemas: [players] });
    } catch (err) {
      caught = err;
    }
    expect(isStrataError(caught, 'INVALID_CONFIG')).toBe(true);
    expect((caught as Error).message).toContain('UPSTASH_REDIS_REST_TOKEN');
  });

  it('refuses encrypted fields without a key, naming the STRATA_ENCRYPTION_KEY binding', () => {
    const { STRATA_ENCRYPTION_KEY: _key, ...withoutKey } = env as typeof env & {
      STRATA_ENCRYPTION_KEY?: string;
    };
    const secrets = defineSchema({
      table: pgTable(uniqueName('cs_secrets'), { id: text('id').primaryKey(), note: text('note') }),
      fields: { note: { encrypted: true } },
    });
    let caught: unknown;
    try {
      createStrata(withoutKey, { schemas: [secrets], keyPrefix });
    } catch (err) {
      caught = err;
    }
    expect(isStrataError(caught, 'INVALID_CONFIG')).toBe(true);
    // A Worker's key is a binding: the message names it, not only config.encryptionKey.
    expect((caught as Error).message).toContain('the STRATA_ENCRYPTION_KEY binding');
  });

  it.each([
    ['not a url', ''],
    ['mysql://user:secret@db.example/shop', ': its scheme is mysql:'],
  ])('refuses a DATABASE_URL that is no Postgres connection string (%s), without quoting it', (url, tail) => {
    let caught: unknown;
    try {
      createStrata({ ...env, DATABASE_URL: url }, { schemas: [players], keyPrefix });
    } catch (err) {
      caught = err;
    }
    expect(isStrataError(caught, 'INVALID_CONFIG')).toBe(true);
    expect((caught as Error).message).toBe(
      `strata: createStrata: the binding DATABASE_URL is not a Postgres connection string (postgres://user:password@host/db)${tail}`,
    );
    expect((caught as Error).message).not.toContain('secret');
  });

  it.each(['127.0.0.1', 'localhost', '[::1]'])(
    'refuses a local DATABASE_URL (%s) without NEON_FETCH_ENDPOINT instead of failing every query',
    (host) => {
      const { NEON_FETCH_ENDPOINT: _endpoint, ...rest } = env;
      const url = new URL(env.DATABASE_URL);
      url.hostname = host;
      const withoutEndpoint = { ...rest, DATABASE_URL: url.href };
      // As in a fresh isolate: the driver's default endpoint function, not one an earlier call set.
      const saved = neonConfig.fetchEndpoint;
      neonConfig.fetchEndpoint = (dbHost) => `https://api.${dbHost}/sql`;
      let caught: unknown;
      try {
        createStrata(withoutEndpoint, { schemas: [players] });
      } catch (err) {
        caught = err;
      } finally {
        neonConfig.fetchEndpoint = saved;
      }
      expect(isStrataError(caught, 'INVALID_CONFIG')).toBe(true);
      expect((caught as Error).message).toContain(
        `DATABASE_URL points at ${host} (local) but NEON_FETCH_ENDPOINT is not set`,
      );
    },
  );

  it('leaves migrate() out unless drizzleMigrate is passed: it then rejects, naming the option', async () => {
    const lean = createStrata({ ...env }, { schemas: [players], keyPrefix });
    built.add(lean);
    const error = await lean.migrate().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
    expect((error as Error).message).toMatch(/drizzleMigrate to createStrata/);
    // The rest of the L3 is there: it reads the table drizzleMigrate made in beforeAll.
    expect(await lean.find(players, 'absent')).toBeNull();
  });

  it('reads a plain env object (process.env style) without a queue binding', async () => {
    const plain: Record<string, string | undefined> = {
      UPSTASH_REDIS_REST_URL: env.UPSTASH_REDIS_REST_URL,
      UPSTASH_REDIS_REST_TOKEN: env.UPSTASH_REDIS_REST_TOKEN,
      DATABASE_URL: env.DATABASE_URL,
      NEON_FETCH_ENDPOINT: env.NEON_FETCH_ENDPOINT,
      WRITES: 'not a binding',
    };
    const strata = strataFor(plain, [players]);
    expect(await strata.get(players, 'p1')).toMatchObject({ id: 'p1' });
  });
});
