/**
 * Tables whose names hold `{` and `}` on a real Redis Cluster (3 masters + 3 replicas): Redis hashes
 * a key by its first `{…}`, and Strata's every key starts with the app's root, which carries the
 * app's hash tag (`{shop}` with one bucket, `{shop#b}` per bucket): a brace in a table name comes
 * after it and never moves a key to another slot. Multi-key scripts (writes, write-behind, the
 * generation read) run there (a CROSSSLOT error would fail them), and every key of the app sits in
 * its root's slot.
 */
import { defineSchema, Q } from '@strata/core';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { expect, it } from 'vitest';
import { hashSlot } from '../src/redis-tcp/cluster-slots.js';
import { clusterApp } from './support/cluster-app.js';

const name = uniqueName('brace_tables');
const cols = { id: text('id').primaryKey(), n: integer('n').notNull() };
const behindTable = pgSchema(name).table('{x}', cols);
const throughTable = pgSchema(name).table('a}b{c', cols);
const behind = defineSchema({ name: 'behind', table: behindTable, writeMode: 'write-behind' });
const through = defineSchema({ name: 'through', table: throughTable });

const app = clusterApp(name, { schemas: [behind, through] });

/** Every key under `prefix` on the masters, with its slot. */
async function slotsOf(prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const admin = app.clients.open();
  await admin.ping(); // connected: the client knows the masters
  for (const node of admin.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      for (const key of keys) out.set(key, Number(await node.cluster('KEYSLOT', key)));
      cursor = next;
    } while (cursor !== '0');
  }
  return out;
}

it('one bucket (keyPrefix {name}): writes, write-behind, reads and searches; every key in the tag slot', async () => {
  const keyPrefix = `{${name}}`;
  const { strata } = await app.open({ keyPrefix });
  await strata.migrate();
  await strata.set(behind, { id: 'k1', n: 1 });
  await strata.set(through, { id: 'k1', n: 2 });
  await strata
    .tx()
    .set(through, { id: 'k2', n: 3 })
    .delete(behind, 'k1')
    .set(behind, { id: 'k3', n: 4 })
    .commit();
  await strata.flushDirty();
  expect(await strata.getMany(behind, ['k1', 'k3'])).toEqual([null, { id: 'k3', n: 4 }]);
  expect(await strata.search(through, Q().orderBy('id').build())).toEqual([
    { id: 'k1', n: 2 },
    { id: 'k2', n: 3 },
  ]);
  expect(strata.stats().errorsBy.l2 ?? 0).toBe(0);
  const slots = await slotsOf(keyPrefix);
  expect([...slots.keys()].some((key) => key.includes('{x}'))).toBe(true);
  expect(new Set(slots.values())).toEqual(new Set([hashSlot(keyPrefix)]));
});

it('two buckets (keyPrefix name): each key of a brace table in its bucket tag slot', async () => {
  const { strata } = await app.open({ buckets: 2, schemas: [through], keyPrefix: `${name}b` });
  const ids = Array.from({ length: 8 }, (_, i) => `r${i}`);
  for (const id of ids) await strata.set(through, { id, n: 1 });
  await strata.tx().set(through, { id: 'r0', n: 2 }).set(through, { id: 'r1', n: 2 }).commit();
  expect((await strata.getMany(through, ids)).map((row) => row?.n)).toEqual([2, 2, 1, 1, 1, 1, 1, 1]);
  expect(strata.stats().errorsBy.l2 ?? 0).toBe(0);
  const slots = await slotsOf(`{${name}b#`);
  const tags = new Set([hashSlot(`{${name}b#0}`), hashSlot(`{${name}b#1}`)]);
  expect(slots.size).toBeGreaterThan(0);
  for (const [key, slot] of slots) expect(tags.has(slot), key).toBe(true);
  for (const [key, slot] of slots) expect(slot, key).toBe(hashSlot(key.slice(0, key.indexOf('}') + 1)));
});
