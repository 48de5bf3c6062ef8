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

async function open(source: ChangeSource, keyPrefix = name): Promise<NodeStrata> {
  const node = await createStrata({
    databaseUrl,
    redisUrl,
    schemas: [items],
    keyPrefix,
    migrationsSchema: name,
    handleSignals: false,
    // An interval no test waits for: every read here is a wake-up.
    capture: { source, relay: { interval: '1h' }, listen: true },
  });
  opened.push(node);
  return node;
}

/** NOTIFYs on the change channel, with these payloads (none: one without a payload). */
const notify = async (...payloads: string[]) => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  if (payloads.length === 0) await client.query(`NOTIFY ${CHANGES_CHANNEL}`);
  for (const payload of payloads) await client.query('select pg_notify($1, $2)', [CHANGES_CHANNEL, payload]);
  await client.end();
};

/** A CountingSource whose reads wait while `hold()` is on: a read that is still running. */
class HeldSource extends CountingSource {
  #release: (() => void) | undefined;
  #gate: Promise<void> | undefined;
  hold(): void {
    this.#gate = new Promise((resolve) => {
      this.#release = resolve;
    });
  }
  release(): void {
    this.#release?.();
    this.#gate = undefined;
  }
  override async read(cursor: string): Promise<ChangePage> {
    const page = await super.read(cursor);
    await this.#gate;
    return page;
  }
}

afterAll(async () => {
  for (const node of opened) await node.shutdown();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`drop schema if exists "${name}" cascade`);
  await client.end();
  const redis = new Redis(redisUrl);
  const keys = await redis.keys(`${name}*`); // both prefixes
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

it("another app's notifications wake nothing; a burst during a read makes one more read, not one per NOTIFY", async () => {
  const source = new HeldSource();
  const { strata } = await open(source, `${name}_burst`);
  await vi.waitFor(() => expect(source.reads).toBeGreaterThanOrEqual(1), { timeout: 5_000, interval: 10 });
  await vi.waitFor(() => expect(strata.stats().capture.relay?.polls).toBe(source.reads), { timeout: 5_000 });

  // The channel is shared by every app of the database: 50 changes of a table this app has not.
  const idle = source.reads;
  await notify(...Array.from({ length: 50 }, () => 'another_app.orders'));
  // A relevant one after them: once it was read, the 50 before it were seen (one session, in order).
  await notify(items.identity);
  await vi.waitFor(() => expect(source.reads).toBe(idle + 1), { timeout: 5_000, interval: 10 });

  // A read held open; 100 of this app's notifications meanwhile.
  source.hold();
  await notify(items.identity);
  await vi.waitFor(() => expect(source.reads).toBe(idle + 2), { timeout: 5_000, interval: 10 });
  await notify(...Array.from({ length: 100 }, () => items.identity));
  expect(source.reads).toBe(idle + 2);
  source.release();
  // Exactly one more read for all of them: what they announced may have committed after the held
  // read's snapshot, so it is not left for the interval (1 h here).
  await vi.waitFor(() => expect(source.reads).toBe(idle + 3), { timeout: 5_000, interval: 10 });
  await vi.waitFor(() => expect(strata.stats().capture.relay?.polls).toBe(source.reads), { timeout: 5_000 });
  expect(source.reads).toBe(idle + 3);
  expect(strata.stats().capture.relay?.errors).toBe(0);
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

it('nonsense capture options are INVALID_CONFIG naming the field, before anything is opened', async () => {
  const cases: [unknown, string][] = [
    [5, 'capture'],
    [[], 'capture'],
    ['yes', 'capture'],
    [{ relay: null }, 'capture.relay'],
    [{ relay: 'yes' }, 'capture.relay'],
    [{ relay: 1 }, 'capture.relay'],
    [{ relay: { intervall: '1s' } }, 'capture.relay'],
    [{ relay: { interval: 0 } }, 'capture.relay.interval'],
    [{ relay: { interval: '25d' } }, 'capture.relay.interval'],
    [{ relay: true, listen: 'yes' }, 'capture.listen'],
    [{ schemaCheckInterval: 'soon' }, 'capture.schemaCheckInterval'],
  ];
  for (const [capture, field] of cases) {
    const err = await createStrata({
      databaseUrl,
      redisUrl,
      schemas: [items],
      keyPrefix: `${name}_bad`,
      handleSignals: false,
      capture: capture as never,
    }).catch((e: unknown) => e);
    expect(isStrataError(err, 'INVALID_CONFIG'), JSON.stringify(capture)).toBe(true);
    expect((err as { details?: { field?: string } }).details?.field, JSON.stringify(capture)).toBe(field);
  }
});
