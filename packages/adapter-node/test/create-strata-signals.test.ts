import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defineSchema } from '@strata/core';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, expect, it, vi } from 'vitest';
import { createStrata } from '../src/create-strata.js';

const writer = fileURLToPath(new URL('./fixtures/create-strata-writer.mjs', import.meta.url));
const built = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const { redisUrl, databaseUrl } = serviceUrls();
const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
pool.on('error', () => {});
const db = drizzle({ client: pool });
// The table's Postgres schema is dropped after the run too (the shutdown-flush test migrates it).
const names: string[] = [uniqueName('signals')];
const table = pgSchema(names[0]!).table('items', { id: text('id').primaryKey() });
const items = defineSchema({ table, writeMode: 'write-behind' });

afterAll(async () => {
  for (const name of names) await db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
  const redis = new Redis(redisUrl, { lazyConnect: true });
  redis.on('error', () => {});
  for (const name of names) {
    const keys = await redis.keys(`${name}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
  await pool.end();
});

function fresh(label: string): string {
  const name = uniqueName(label);
  names.push(name);
  return name;
}

it('installs one SIGTERM and one SIGINT listener by default, and shutdown() removes them', async () => {
  const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') };
  const node = await createStrata({ databaseUrl, schemas: [] });
  expect(process.listenerCount('SIGTERM')).toBe(before.term + 1);
  expect(process.listenerCount('SIGINT')).toBe(before.int + 1);
  await node.shutdown();
  expect(process.listenerCount('SIGTERM')).toBe(before.term);
  expect(process.listenerCount('SIGINT')).toBe(before.int);

  const quiet = await createStrata({ databaseUrl, schemas: [], handleSignals: false });
  expect(process.listenerCount('SIGTERM')).toBe(before.term);
  await quiet.shutdown();
});

it('a signal shuts down once, however many arrive, says so, then exits 0', async () => {
  const exit = vi.fn();
  const beforeShutdown = vi.fn();
  const notice = vi.fn();
  await createStrata({
    databaseUrl,
    schemas: [],
    beforeShutdown,
    handleSignals: { signals: ['SIGUSR2'], exit, notice },
  });
  process.emit('SIGUSR2', 'SIGUSR2');
  process.emit('SIGUSR2', 'SIGUSR2');
  await vi.waitFor(() => expect(exit).toHaveBeenCalled());
  expect(exit.mock.calls).toEqual([[0]]);
  // Who closed the instance (its later calls fail UNAVAILABLE "closed"), once.
  expect(notice.mock.calls).toEqual([
    ['SIGUSR2 received: shutting down (queued writes flushed first), then exiting'],
  ]);
  expect(beforeShutdown).toHaveBeenCalledTimes(1);
  expect(process.listenerCount('SIGUSR2')).toBe(0);
});

it('exits 1 and says why when the shutdown flush fails', async () => {
  const name = fresh('signals_fail');
  const exit = vi.fn();
  const error = vi.fn();
  const warn = vi.fn();
  // A first process started the schema's write-behind version counter (from Postgres) and flushed.
  const first = await createStrata({
    databaseUrl,
    redisUrl,
    keyPrefix: name,
    schemas: [items],
    writeBehind: { queue: 'memory' },
    migrationsSchema: name,
    handleSignals: false,
  });
  await first.strata.migrate();
  await first.strata.set(items, { id: 'kept' });
  await first.shutdown();
  const { strata } = await createStrata({
    databaseUrl,
    redisUrl,
    keyPrefix: name,
    schemas: [items],
    writeBehind: { queue: 'memory' },
    migrationsSchema: name,
    logger: { debug() {}, info() {}, warn, error },
    handleSignals: { signals: ['SIGUSR2'], exit },
  });
  // Acknowledged (its first write claims the table in Postgres: docs/semantics.md, "One writer per
  // table"); then Postgres cannot take it: its table is gone, and the shutdown flush holds the write.
  await strata.set(items, { id: 'lost' });
  const moved = `"${names[0]}".items`;
  await pool.query(`alter table ${moved} rename to items_away`);
  try {
    process.emit('SIGUSR2', 'SIGUSR2');
    await vi.waitFor(() => expect(exit).toHaveBeenCalled(), { timeout: 15_000 });
  } finally {
    await pool.query(`alter table "${names[0]}".items_away rename to items`);
  }
  expect(exit.mock.calls).toEqual([[1]]);
  expect(warn).toHaveBeenCalledWith(
    'SIGUSR2 received: shutting down (queued writes flushed first), then exiting',
  );
  expect(error).toHaveBeenCalledWith('shutdown after SIGUSR2 failed', {
    error: expect.stringContaining('write-behind writes are waiting'),
  });
});

it.each(['memory', 'redis-stream'] as const)(
  'SIGTERM to a write-behind process (%s queue): it exits 0 and every acknowledged write is in Postgres',
  async (queue) => {
    expect(existsSync(built), 'build first: npm run build -w @strata/adapter-node (npm test does)').toBe(
      true,
    );
    const name = fresh(`sigterm_${queue}`);
    const proc = spawn(process.execPath, [writer, name, queue, redisUrl, databaseUrl], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const acked = new Set<string>();
    const lines: string[] = [];
    let enough!: () => void;
    const enoughAcked = new Promise<void>((resolve) => (enough = resolve));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      lines.push(line);
      const [word, id] = line.split(' ');
      if (word === 'ack' && id) acked.add(id);
      if (acked.size >= 300) enough();
    });
    try {
      await Promise.race([enoughAcked, exited.then(() => Promise.reject(new Error(lines.join('\n'))))]);
      const rows = pgSchema(name).table('writes', { id: text('id').primaryKey(), n: integer('n') });
      // Nothing flushed yet (no timed flush, no threshold): only the shutdown can flush them.
      expect(await db.$count(rows)).toBe(0);
      proc.kill('SIGTERM');
      const [code, signal] = await exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      // The write the shutdown caught in the act was refused, not acknowledged.
      expect(lines.filter((l) => l.startsWith('refused'))).toHaveLength(1);
      expect(lines.at(-1)).toMatch(/^refused (QUEUE_UNAVAILABLE|UNAVAILABLE)$/);
      const stored = new Set((await db.select({ id: rows.id }).from(rows)).map((r) => r.id));
      const missing = [...acked].filter((id) => !stored.has(id));
      expect(missing).toEqual([]);
      expect(stored.size).toBe(acked.size);
      console.info(`[sigterm ${queue}] acknowledged ${acked.size}, in Postgres after SIGTERM ${stored.size}`);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  },
  30_000,
);
