import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { sql } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, expect, it, vi } from 'vitest';
import { recoveryStrata } from './support/crash-recovery.js';
import { scratch } from './support/scratch.js';

const store = scratch('crash');
const { name, redisUrl, databaseUrl, db } = store;
const child = fileURLToPath(new URL('./fixtures/write-behind-writer.mjs', import.meta.url));
const built = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const stream = `${name}:writes`;
const table = pgSchema(name).table('writes', { id: text('id').primaryKey(), n: integer('n').notNull() });
const schema = defineSchema({ table, writeMode: 'write-behind' });

afterAll(() => store.cleanup());

it('kill -9 of a write-behind process mid-stream loses no acknowledged write', async () => {
  expect(existsSync(built), 'build first: npm run build (npm test does)').toBe(true);
  await new Strata({
    l3: createDrizzleL3(db, { migrationsSchema: name }),
    schemas: [defineSchema({ table })],
  }).migrate();

  const proc = spawn(process.execPath, [child, name, stream, name, redisUrl, databaseUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const acknowledged = new Set<string>();
  const enough = new Promise<void>((resolve) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const [word, id] = line.split(' ');
      if (word === 'ack' && id) acknowledged.add(id);
      if (acknowledged.size >= 400) resolve();
    });
  });
  const exited = once(proc, 'exit');
  try {
    await enough;
  } finally {
    proc.kill('SIGKILL');
  }
  await exited;
  const acked = new Set(acknowledged); // nothing more can arrive from a dead process

  // A new instance takes over the queue; writes the dead one held in flight are reclaimed.
  const recovery = recoveryStrata({ redisUrl, name, stream }, db, schema);
  try {
    await vi.waitFor(
      async () => {
        await recovery.flushDirty();
        const rows = await db.select({ id: table.id }).from(table);
        const stored = new Set(rows.map((r) => r.id));
        const missing = [...acked].filter((id) => !stored.has(id));
        expect(missing).toEqual([]);
      },
      { timeout: 15_000, interval: 250 },
    );
    const [{ count }] = (await db.execute<{ count: string }>(sql`select count(*) from ${table}`)).rows as [
      { count: string },
    ];
    const recovered = recovery.stats().flushed;
    console.info(
      `[crash] acknowledged ${acked.size}, in Postgres ${count}, recovered from the stream ${recovered}, lost 0`,
    );
    // The writes the dead process had not flushed came back through the durable queue.
    expect(recovered).toBeGreaterThan(0);
  } finally {
    await recovery.close();
  }
}, 60_000);
