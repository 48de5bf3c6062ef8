/**
 * A Redis Cluster failover under an app whose schema is spread over 16 buckets (key layout C): the
 * master holding most of its buckets (bucket 0 aside) is SIGKILLed (by its pid) while write-through writes and
 * reads of rows in every bucket run. Reads must keep answering (from Postgres where their bucket's
 * shard is down), every acknowledged write must be in Postgres, and once the shard is back no
 * instance may be served a row older than Postgres holds: the writes L2 missed in the dead shard's
 * buckets move those buckets' generations on, not only bucket 0's.
 */
import { defineSchema } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { expect, it, onTestFinished, vi } from 'vitest';
import { masterFor } from '../src/redis-tcp/cluster-slots.js';
import { busiestMaster, clusterApp } from './support/cluster-app.js';
import { until } from './support/cluster-client.js';
import { restartClusterNode } from './support/restart-cluster-node.js';

const name = uniqueName('cluster_fo_b16');
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table, l1: false });
const BUCKETS = 16;
const IDS = Array.from({ length: 96 }, (_, i) => `i${i}`);

const app = clusterApp(name, {
  schemas: [items],
  buckets: BUCKETS,
  // A short cooldown: the L2 is back soon after the promotion, not 5 s later.
  breaker: { cooldown: '500ms' },
});
const { clients, restarted } = app;
const open = () => app.open();

it('SIGKILL of a master holding several buckets: reads go on, no acknowledged write is lost, no stale row after', async () => {
  const writer = await open();
  await writer.strata.migrate();
  const reader = await open();
  const admin = clients.open();
  // Which master serves each bucket's slot; the victim is the one with the most of them, bucket 0's
  // aside (bucket 0 holds the schema's app-wide keys: the victim's buckets must be moved on for
  // their own sake).
  const [victimPort, victimBuckets] = await busiestMaster(admin, name, BUCKETS, [0]);
  expect(victimBuckets.length).toBeGreaterThanOrEqual(2);

  const acked = new Map<string, number>();
  let n = 0;
  let failed = 0;
  let stop = false;
  const writing = (async () => {
    while (!stop) {
      const value = ++n;
      const id = IDS[value % IDS.length]!;
      try {
        await writer.strata.set(items, { id, n: value });
        acked.set(id, value);
      } catch {
        failed++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  })();
  let reading: Promise<unknown> = Promise.resolve();
  onTestFinished(async () => {
    stop = true;
    await Promise.all([writing, reading]);
  });
  expect(await until(10_000, () => acked.size === IDS.length)).toBe(true);

  // Reads from now on (every row exists): none may fail, a shard down or not.
  let reads = 0;
  let readFailures = 0;
  reading = (async () => {
    while (!stop) {
      await reader.strata.get(items, IDS[reads++ % IDS.length]!).catch(() => readFailures++);
    }
  })();

  const killedAt = Date.now();
  await app.cluster().stopNode(victimPort, 'SIGKILL');
  // The victim's buckets answer again once its replica is promoted.
  const probe = `{${name}#${victimBuckets[0]}}:probe`;
  expect(await until(15_000, async () => (await admin.set(probe, '1')) === 'OK')).toBe(true);
  const slotBackMs = Date.now() - killedAt;
  // Writing stops here, so the rows whose L2 write was missed in the dead shard are not written
  // again after it: only the generations of their buckets keep them from being served stale.
  stop = true;
  await Promise.all([writing, reading]);
  restarted.push(await restartClusterNode(app.cluster().dir, victimPort));

  // Every acknowledged write is in Postgres (a later one that failed its acknowledgement may have
  // landed over it; an acknowledged one must have).
  const stored = new Map((await writer.db.select().from(table)).map((row) => [row.id, row.n]));
  for (const [id, value] of acked) expect(stored.get(id)).toBeGreaterThanOrEqual(value);
  // The writer moves on the generation of every bucket whose write L2 missed as soon as L2 answers
  // again, by itself (its scheduler's retry; it makes no call from here on). Another instance then
  // reads no older row in any bucket, once it has read those generations (at most 5 s old).
  const expected = IDS.map((id) => ({ id, n: stored.get(id) }));
  const fresh = await open();
  await vi.waitFor(async () => expect(await fresh.strata.getMany(items, IDS)).toEqual(expected), {
    timeout: 15_000,
    interval: 200,
  });
  await new Promise((resolve) => admin.refreshSlotsCache(resolve));
  const newMaster = (await masterFor(admin, probe)).options.port;
  expect(newMaster).not.toBe(victimPort);
  expect(readFailures).toBe(0);
  // The failover was felt: the writer's L2 writes to the dead shard failed (counted, not thrown).
  const { errors, errorsBy } = writer.strata.stats();
  expect(errors).toBeGreaterThan(0);
  // A newer instance, which never read before the generations moved, is right at once.
  const newer = await open();
  expect(await newer.strata.getMany(items, IDS)).toEqual(expected);
  // Writes in the victim's buckets are cached again: written by one instance, an L2 hit for another
  // (once the writer's breaker has closed and the reader knows the generations it wrote under).
  const later = Array.from({ length: 48 }, (_, i) => `later${i}`);
  const again = await open();
  await vi.waitFor(
    async () => {
      await writer.strata.setMany(
        items,
        later.map((id, i) => ({ id, n: i })),
      );
      const hits = again.strata.stats().hits.l2;
      expect(await again.strata.getMany(items, later)).toEqual(later.map((id, i) => ({ id, n: i })));
      expect(again.strata.stats().hits.l2 - hits).toBe(later.length);
    },
    { timeout: 15_000, interval: 200 },
  );
  console.log(
    `buckets 16 failover: killed port ${victimPort} (buckets ${victimBuckets.join(',')}), promoted ${newMaster}; ` +
      `slot back after ${slotBackMs} ms; ${n} writes, ${failed} refused; ${reads} reads, 0 failed; writer's errors ${JSON.stringify(errorsBy)}`,
  );
}, 60_000);
