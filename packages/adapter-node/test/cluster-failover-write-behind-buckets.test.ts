/**
 * A Redis Cluster master SIGKILLed (by its pid) while two instances of an app over 16 buckets make
 * write-behind writes in every bucket (key layout C step 5: a stream per bucket). Every write a
 * `set` acknowledged must be in Postgres once the shard is back and flushDirty has run (the
 * default `replicas: 1`: an acknowledged write is on the promoted replica), and nothing is left
 * queued in any of the 16 streams.
 */
import { defineSchema } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { expect, it, onTestFinished, vi } from 'vitest';
import type { NodeStrata } from '../src/create-strata.js';
import { busiestMaster, clusterApp } from './support/cluster-app.js';
import { until } from './support/cluster-client.js';
import { restartClusterNode } from './support/restart-cluster-node.js';

const name = uniqueName('cl_fo_wbb_wbbuckets');
const table = pgSchema(name).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
const items = defineSchema({ table, writeMode: 'write-behind', l1: false });
const BUCKETS = 16;
const IDS = Array.from({ length: 96 }, (_, i) => `i${i}`);

const app = clusterApp(name, {
  schemas: [items],
  buckets: BUCKETS,
  breaker: { cooldown: '500ms' },
});
const { clients, restarted } = app;
const open = () => app.open();

it('SIGKILL of a master mid-write-behind over 16 buckets: every acknowledged write is in Postgres after recovery and flushDirty', async () => {
  const a = await open();
  await a.strata.migrate();
  const b = await open();
  const admin = clients.open();
  const [victimPort, victimBuckets] = await busiestMaster(admin, name, BUCKETS);

  // Per id, the last value a `set` acknowledged (two writers, each on its own ids' halves).
  const acked = new Map<string, number>();
  let n = 0;
  let failed = 0;
  let stop = false;
  const writer = (node: NodeStrata, half: number) => async () => {
    while (!stop) {
      const value = ++n;
      const id = IDS[(value % (IDS.length / 2)) * 2 + half]!;
      try {
        await node.strata.set(items, { id, n: value });
        acked.set(id, Math.max(acked.get(id) ?? 0, value));
      } catch {
        failed++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  };
  const writing = Promise.all([writer(a, 0)(), writer(b, 1)()]);
  onTestFinished(async () => {
    stop = true;
    await writing;
  });
  expect(await until(15_000, () => acked.size === IDS.length)).toBe(true);
  const beforeKill = acked.size;

  const killedAt = Date.now();
  await app.cluster().stopNode(victimPort, 'SIGKILL');
  const probe = `{${name}#${victimBuckets[0]}}:probe`;
  expect(await until(15_000, async () => (await admin.set(probe, '1')) === 'OK')).toBe(true);
  const slotBackMs = Date.now() - killedAt;
  // The crashed node rejoins as the promoted master's replica: writes are acknowledged again.
  restarted.push(await restartClusterNode(app.cluster().dir, victimPort));
  const ackedThen = n;
  expect(await until(20_000, () => n > ackedThen + 300)).toBe(true);
  stop = true;
  await writing;

  // flushDirty until it goes through (the flusher's first tries may meet the slot map moving).
  await vi.waitFor(() => a.strata.flushDirty(), { timeout: 20_000, interval: 200 });
  await b.strata.flushDirty();
  const depth = await a.strata.queueDepth();
  if (depth !== 0) {
    for (let k = 0; k < BUCKETS; k++) {
      const key = `{${name}#${k}}:writes`;
      if ((await admin.xlen(key)) === 0) continue;
      console.log(
        k,
        JSON.stringify(await admin.xpending(key, `{${name}#${k}}:flushers`)),
        JSON.stringify(await admin.xrange(key, '-', '+')).slice(0, 600),
      );
    }
  }
  expect(depth).toBe(0);
  const stored = new Map((await a.db.select().from(table)).map((row) => [row.id, row.n]));
  for (const [id, value] of acked) expect(stored.get(id), id).toBeGreaterThanOrEqual(value);
  for (let k = 0; k < BUCKETS; k++) expect(await admin.xlen(`{${name}#${k}}:writes`)).toBe(0);
  console.log(
    `buckets 16 write-behind failover: killed port ${victimPort} (buckets ${victimBuckets.join(',')}); ` +
      `slot back after ${slotBackMs} ms; ${n} writes, ${failed} refused; ${acked.size} ids acknowledged ` +
      `(${beforeKill} before the kill), all in Postgres`,
  );
}, 90_000);
