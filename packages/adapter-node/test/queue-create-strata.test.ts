import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { defineSchema } from '@strata/core';
import { strataRejection } from '@strata/core/testing';
import { freePort } from '@strata/devstack';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { eq, sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { type CreateStrataOptions, createStrata } from '../src/create-strata.js';

// createStrata builds the Redis Stream queue for write-behind schemas: its durability is checked at
// start-up (issue 12, item 10) and its stream and group are named after the app's keyPrefix (item 2).

const fixture = fileURLToPath(new URL('./fixtures/create-strata-volatile.mjs', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));
const { redisUrl, databaseUrl } = serviceUrls();
const machine = new URL(redisUrl);
const name = uniqueName('queue_create_strata');
const table = pgSchema(name).table('writes', { id: text('id').primaryKey(), n: integer('n').notNull() });
const writes = defineSchema({ table, writeMode: 'write-behind' });
const admin = new Redis(redisUrl, { protocol: 2 });
admin.on('error', () => {});

/** createStrata with this file's isolation (key prefix, migrations schema), no signal handlers. */
const open = (options: Partial<CreateStrataOptions> = {}) =>
  createStrata({
    databaseUrl,
    redisUrl,
    schemas: [writes],
    keyPrefix: name,
    migrationsSchema: name,
    handleSignals: false,
    ...options,
  });

afterAll(async () => {
  const node = await open({ schemas: [] });
  await node.db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
  await node.shutdown();
  const keys = await admin.keys(`${name}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

it('refuses a Redis without AOF at start-up (INVALID_CONFIG) and leaves nothing open: the process ends by itself', async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=strata-source', fixture, name, redisUrl, databaseUrl],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const giveUp = new AbortController();
  try {
    // A deadline, not a synchronisation: a leaked handle shows as a process that never exits.
    const outcome = await Promise.race([
      exited.then(([code, signal]) => ({ code, signal })),
      sleep(15_000, 'still running: something was left open', { signal: giveUp.signal }),
    ]);
    expect(outcome, output).toEqual({ code: 0, signal: null });
  } finally {
    giveUp.abort();
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  }
  expect(output).toMatch(/^refused INVALID_CONFIG strata: Redis Stream queue: the Redis at /);
  expect(output).toContain(`${machine.hostname}:${machine.port || 6379} has no append-only file`);
  expect(output).toContain('allowVolatileQueue: true');
  expect(await admin.exists(`${name}:writes`)).toBe(0);
});

it('with allowVolatileQueue: true it starts; writes go through the stream and group of its keyPrefix', async () => {
  const node = await open({ allowVolatileQueue: true });
  try {
    await node.strata.migrate();
    await node.strata.set(writes, { id: 'a', n: 1 });
    expect(await admin.xlen(`${name}:writes`)).toBe(1);
    await node.strata.flushDirty();
    expect(await node.db.select().from(table).where(eq(table.id, 'a'))).toEqual([{ id: 'a', n: 1 }]);
    const groups = (await admin.xinfo('GROUPS', `${name}:writes`)) as unknown[][];
    expect(groups.map((g) => g[1])).toEqual([`${name}:flushers`]);
  } finally {
    await node.shutdown();
  }
  // writeStream still names the stream; the group stays the app's.
  const custom = await open({ allowVolatileQueue: true, writeStream: `${name}:custom` });
  try {
    await custom.strata.set(writes, { id: 'b', n: 2 });
    await custom.strata.flushDirty();
    const groups = (await admin.xinfo('GROUPS', `${name}:custom`)) as unknown[][];
    expect(groups.map((g) => g[1])).toEqual([`${name}:flushers`]);
    expect(await custom.db.$count(table)).toBe(2);
  } finally {
    await custom.shutdown();
  }
});

it('refuses in-process too, and a Redis that does not answer at start-up only warns', async () => {
  const error = await strataRejection(open());
  expect(error.code).toBe('INVALID_CONFIG');
  expect(error.details).toMatchObject({ field: 'allowVolatile', durability: 'volatile' });
  // Nothing listens on this port: L2 and reads start without Redis as before; the first enqueue checks.
  const warnings: string[] = [];
  const logger = {
    debug() {},
    info() {},
    error() {},
    warn: (message: string) => void warnings.push(message),
  };
  const down = await open({ redisUrl: `redis://127.0.0.1:${await freePort()}`, logger });
  // (The bus warns too: it could not subscribe.)
  expect(warnings.filter((w) => w.startsWith('Redis Stream queue'))).toEqual([
    'Redis Stream queue: durability not checked at start-up; the first write-behind write checks it',
  ]);
  // Its final flush cannot reach the queue: the shutdown says so (and still ends the pool).
  await expect(down.shutdown()).rejects.toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
});
