import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema } from '@strata/core';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterEach, describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// A guard beside regression-flush-settle-reset: a write-behind set (ORDERED_PUT) whose script reaches
// Redis only after a reset (its request held in A's connection while B writes the key and Redis
// loses the app's keys) finds the reset and is made again in the new life. Unlike a commit's PUT,
// the script takes the write's version in the same step as it lays the row: made again, the write
// takes a version of the new life, newer than anything there, so its row is the newest write of
// that life (acknowledged after B's), never a late one. Its flush then lands over B's in Postgres:
// every instance, a fresh one, and Postgres agree.

const cols = { id: text('id').primaryKey(), n: integer('n').notNull() };
let proxy: TcpProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('a write-behind set whose script reaches Redis after a reset', () => {
  const scratch = scratchApp('ordered_put_reset');
  const { name, pgName, redisUrl, wipe } = scratch;
  // B's L1 copy of its own write goes only by a message (no bus: no cross-instance invalidation).
  const coherence = () => ({ bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) });
  const table = pgSchema(pgName).table('items', cols);
  scratch.migrate(table);

  it('is made again at a version of the new life: its row, newest, is what every tier holds after its flush', async () => {
    proxy = await startTcpProxy(Number(new URL(redisUrl).port || 6379));
    const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
    const through = defineSchema({ name: 'items', table, writeMode: 'write-through' });
    const a = scratch.strata({
      schemas: [behind],
      l2: createIoredisL2(proxy.url(redisUrl)),
      timeouts: { l2: '10s' },
      coherence: coherence(),
    });
    const b = scratch.strata({ schemas: [through], coherence: coherence() });
    const k = 'k-ordered';
    expect(await a.find(behind, k)).toBeNull(); // both have seen Redis' tick
    expect(await b.find(through, k)).toBeNull();

    const id = Buffer.from(k);
    const trapped = proxy.trap({ direction: 'up', action: 'hold', match: (chunk) => chunk.includes(id) });
    const set = a.set(behind, { id: k, n: 1 });
    await trapped; // A's script held before Redis
    await b.set(through, { id: k, n: 2 }); // Postgres and L2
    await wipe();
    proxy.resume();
    await set;
    expect(a.stats().errorsBy['l2-reset'], 'A found the reset, once').toBe(1);
    expect(await scratch.n(k), 'not flushed yet').toBe(2);

    await a.flushDirty();
    expect(await scratch.n(k), "A's write, made after B's in the new life, landed over it").toBe(1);
    const fresh = scratch.strata({ schemas: [behind], coherence: coherence() });
    expect((await fresh.find(behind, k))?.n, 'an instance started now').toBe(1);
    expect((await a.find(behind, k))?.n, 'A').toBe(1);
    // B's copy goes by A's messages (the reset's invalidateAll, the flush's set), which B hears in time.
    await expect.poll(async () => (await b.find(through, k))?.n, { timeout: 5_000 }).toBe(1);
    expect(b.stats().invalidationsApplied, 'B heard A').toBeGreaterThan(0);
  });
});
