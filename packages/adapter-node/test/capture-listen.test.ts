import { defineSchema, isStrataError } from '@strata/core';
import type { ChangePage, ChangeSource } from '@strata/core/driver';
import { CHANGES_CHANNEL } from '@strata/core/driver';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, expect, it, vi } from 'vitest';
import { createStrata, type NodeStrata } from '../src/create-strata.js';

const name = uniqueName('capture_listen');
const { redisUrl, databaseUrl } = serviceUrls();
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table });
const opened: NodeStrata[] = [];

/** A change log that counts its reads (what a wake-up makes the relay do). */
class CountingSource implements ChangeSource {
  readonly name = 'counting';
  reads = 0;
  async start(): Promise<string> {
    return '0';
  }
  async read(cursor: string): Promise<ChangePage> {
    this.reads += 1;
    return { changes: [], cursor, gap: false };
  }
}

async function open(source: ChangeSource): Promise<NodeStrata> {
  const node = await createStrata({
    databaseUrl,
    redisUrl,
    schemas: [items],
    keyPrefix: name,
    migrationsSchema: name,
    handleSignals: false,
    // An interval no test waits for: every read here is a wake-up.
    capture: { source, relay: { interval: '1h' }, listen: true },
  });
  opened.push(node);
  return node;
}

const notify = async () => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`NOTIFY ${CHANGES_CHANNEL}`);
  await client.end();
};

afterAll(async () => {
  for (const node of opened) await node.shutdown();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`drop schema if exists "${name}" cascade`);
  await client.end();
  const redis = new Redis(redisUrl);
  const keys = await redis.keys(`${name}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

it('a NOTIFY on strata_changes runs the relay at once; after its session is cut, it reconnects and still does', async () => {
  const source = new CountingSource();
  const { strata, db } = await open(source);
  // Connected: the relay ran once (notifications sent before it listened are lost).
  await vi.waitFor(() => expect(source.reads).toBeGreaterThanOrEqual(1), { timeout: 5_000, interval: 10 });
  const before = source.reads;
  await notify();
  await vi.waitFor(() => expect(source.reads).toBeGreaterThan(before), { timeout: 5_000, interval: 10 });
  expect(strata.stats().capture.relay?.errors).toBe(0);

  // Cut the listening session (this test's own, found by its application_name).
  const cut = (await db.execute(
    sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${`strata changes ${name}`}`,
  )) as unknown as { rows: unknown[] };
  expect(cut.rows.length).toBe(1);
  const afterCut = source.reads;
  // Reconnected: it reads once on connect, and wakes on the next NOTIFY again.
  await vi.waitFor(() => expect(source.reads).toBeGreaterThan(afterCut), { timeout: 10_000, interval: 20 });
  const reconnected = source.reads;
  await notify();
  await vi.waitFor(() => expect(source.reads).toBeGreaterThan(reconnected), { timeout: 5_000, interval: 10 });
});

it('is refused without the relay, before anything is opened', async () => {
  const err = await createStrata({
    databaseUrl,
    redisUrl,
    schemas: [items],
    keyPrefix: name,
    handleSignals: false,
    capture: { listen: true },
  }).catch((e: unknown) => e);
  expect(isStrataError(err, 'INVALID_CONFIG')).toBe(true);
});
