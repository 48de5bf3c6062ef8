import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { neonConfig } from '@neondatabase/serverless';
import { defineSchema, isStrataError } from '@strata/core';
import { neonLocalConfig } from '@strata/devstack';
import { serviceUrls, testDevstack, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, expect, it, vi } from 'vitest';
import { createStrata, type NodeStrata } from '../src/create-strata.js';
import { migrateFrom } from '../src/migrate-from.js';

const name = uniqueName('create_strata');
const { redisUrl, databaseUrl } = serviceUrls();
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table, l1: { ttl: '10m' } });
const opened: NodeStrata[] = [];
let dir: string | undefined;

/** createStrata with this file's isolation (key prefix, channel, migrations schema), no signal handlers. */
async function open(options: Partial<Parameters<typeof createStrata>[0]> = {}): Promise<NodeStrata> {
  const node = await createStrata({
    databaseUrl,
    redisUrl,
    schemas: [items],
    keyPrefix: name,
    migrationsSchema: name,
    handleSignals: false,
    ...options,
  });
  opened.push(node);
  return node;
}

afterAll(async () => {
  const cleanup = await open();
  await cleanup.db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
  for (const node of opened) await node.shutdown();
  const redis = new Redis(redisUrl, { lazyConnect: true });
  redis.on('error', () => {});
  const keys = await redis.keys(`${name}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('wires pg + ioredis + pub/sub: a write on one instance is read through L2 and dropped from the other L1', async () => {
  const a = await open();
  const b = await open();
  await a.strata.migrate();
  await a.strata.set(items, { id: 'k', n: 1 });
  expect(await b.strata.get(items, 'k')).toEqual({ id: 'k', n: 1 });
  expect(b.strata.stats().hits.l2).toBe(1);
  await a.strata.set(items, { id: 'k', n: 2 });
  // B's L1 held n = 1 for ten minutes: only the bus can make it read n = 2 now.
  await vi.waitFor(async () => expect(await b.strata.get(items, 'k')).toEqual({ id: 'k', n: 2 }), {
    timeout: 5_000,
    interval: 20,
  });
  expect(b.strata.stats().invalidationsApplied).toBeGreaterThan(0);
  const [row] = await a.db.select().from(table);
  expect(row).toEqual({ id: 'k', n: 2 });
});

it('hands its database to migrateFrom; status lists core and file migrations in one table', async () => {
  const node = await open();
  await node.strata.migrate();
  dir = await mkdtemp(join(tmpdir(), `${name}-`));
  await writeFile(join(dir, '001_extra.sql'), `create table "${name}".extra (id int primary key);`);
  const { applied } = await migrateFrom(node, dir);
  expect(applied.map((r) => r.fileName)).toEqual(['001_extra.sql']);
  const status = await node.strata.migrationStatus();
  expect(status.map((r) => r.schema)).toContain('items');
  expect(status.filter((r) => r.schema === null).map((r) => r.fileName)).toEqual(['001_extra.sql']);
});

it('shutdown() closes Strata and ends the pool, once however often it is called', async () => {
  const beforeShutdown = vi.fn();
  const node = await open({ beforeShutdown });
  await node.strata.migrate();
  const first = node.shutdown();
  expect(node.shutdown()).toBe(first);
  await first;
  expect(beforeShutdown).toHaveBeenCalledTimes(1);
  await expect(node.strata.get(items, 'k')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  await expect(node.db.execute(sql`select 1`)).rejects.toMatchObject({
    cause: { message: expect.stringMatching(/pool after calling end/) },
  });
});

it('wires Upstash REST (L2 + SSE bus) and Neon WebSocket', async () => {
  const { upstash, neon } = testDevstack();
  if (!upstash) throw new Error('the devstack has no Upstash endpoint');
  Object.assign(neonConfig, neonLocalConfig(neon));
  const options = {
    redisUrl: undefined,
    upstash,
    driver: 'neon-ws' as const,
    databaseUrl: neon.connectionString,
  };
  const a = await open(options);
  const b = await open(options);
  await a.strata.migrate();
  await a.strata.set(items, { id: 'u', n: 1 });
  expect(await b.strata.get(items, 'u')).toEqual({ id: 'u', n: 1 });
  expect(b.strata.stats().hits.l2).toBe(1);
  await a.strata.set(items, { id: 'u', n: 2 });
  await vi.waitFor(async () => expect(await b.strata.get(items, 'u')).toEqual({ id: 'u', n: 2 }), {
    timeout: 5_000,
    interval: 20,
  });
});

it('wires Neon HTTP', async () => {
  const { neon } = testDevstack();
  Object.assign(neonConfig, neonLocalConfig(neon));
  const node = await open({ driver: 'neon-http', databaseUrl: neon.connectionString });
  await node.strata.migrate();
  await node.strata.set(items, { id: 'h', n: 7 });
  expect(await node.strata.find(items, 'h', { complete: true })).toEqual({ id: 'h', n: 7 });
});

it('refuses contradictory or incomplete wiring with INVALID_CONFIG', async () => {
  const cases: [Partial<Parameters<typeof createStrata>[0]>, RegExp][] = [
    [{ upstash: { url: 'http://127.0.0.1:1', token: 't' } }, /redisUrl or upstash, not both/],
    [
      { redisUrl: undefined, writeBehind: { queue: 'redis-stream' } },
      /writeBehind.queue 'redis-stream' needs redisUrl/,
    ],
    [{ databaseUrl: 'mysql://x' }, /give `driver` explicitly/],
    // `databaseUrl: process.env.DATABASE_URL!` with the variable unset: not "give `driver`", which cannot help.
    [{ databaseUrl: undefined as unknown as string }, /^strata: databaseUrl is missing/],
    [{ databaseUrl: '', driver: 'neon-http' }, /^strata: databaseUrl is missing/],
    // Core's own validation, with the tiers already opened: they are closed again.
    [{ instanceId: '' }, /instanceId/],
  ];
  for (const [options, message] of cases) {
    const error = await open(options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStrataError(error, 'INVALID_CONFIG'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  }
});
