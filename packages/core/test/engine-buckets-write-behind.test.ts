import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryQueue, defineSchema, Q, Strata, type StrataConfig } from '../src/index.js';
import { fourBuckets, fourRouter, idsOverBuckets } from './support/buckets.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Write-behind and L2-only schemas over four buckets (config.buckets, layout C step 5) on the real
// tiers (one Redis serves the buckets as a Cluster would: buckets are key names; the Cluster run is
// adapter-node's cluster-write-behind-buckets.test.ts): each bucket's writes take versions from its
// own counter and record them in its own pending index, reads and searches see them before the
// flush on every instance, and flushDirty leaves Postgres with every row.

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('engine_bkt_wb');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(async () => {
  const bucketed = await stack?.redis.keys(`{${stack.keyPrefix}*`);
  if (bucketed?.length) await stack.redis.del(...bucketed);
  await stack?.cleanup();
});

const plain = () => defineSchema({ table: stack.tables.players });

const four = (keyPrefix: string, s: ReturnType<typeof plain>, extra: Partial<StrataConfig>) =>
  fourBuckets(stack, keyPrefix, s, extra);

describe('config.buckets: 4', () => {
  it('write-behind: two instances write every bucket; reads and searches see the writes before the flush; flushDirty puts every row in Postgres', async () => {
    const p = `${stack.keyPrefix}wb`;
    const s = plain();
    const queue = createMemoryQueue(); // one process: both instances flush from it
    const opts = { defaultWriteMode: 'write-behind' as const, writeBehind: { queue } };
    const a = four(p, s, opts);
    const b = four(p, s, opts);
    const router = fourRouter(p, s);
    const ids = idsOverBuckets(router, 'w', 24); // every bucket has some
    expect(new Set(ids.map((id) => router.bucket(id))).size).toBe(4);
    const name = (id: string) => `${p}-${id}`;
    await a.setMany(
      s,
      ids.slice(0, 12).map((id) => ({ id, username: name(id), level: 7, notes: `n-${id}` })),
    );
    for (const id of ids.slice(12)) await b.set(s, { id, username: name(id), level: 7, notes: `n-${id}` });
    // A partial set (notes left out) on the other instance over a pending row keeps its columns.
    await b.set(s, { id: 'w0', username: name('w0'), level: 8 });
    // Each bucket's pending index, in its own slot, holds its bucket's writes (and, beside each new
    // row's entry, the names of its client defaults: `+{row key}`, not counted here).
    for (let k = 0; k < 4; k++) {
      const index = `{${p}#${k}}:${s.identity}:${s.fingerprint}-json:pending`;
      const entries = (await stack.redis.hkeys(index)).filter((field) => !field.startsWith('+'));
      expect(entries.length, `bucket ${k}'s pending index`).toBe(
        ids.filter((id) => router.bucket(id) === k).length,
      );
    }
    expect(
      await stack.db.select().from(stack.tables.players).where(eq(stack.tables.players.level, 7)),
    ).toEqual([]);
    const level = (id: string) => (id === 'w0' ? 8 : 7);
    // The writer of the partial set, and a fresh instance (no bus here: a's L1 still has w0's first write).
    const fresh = four(p, s, opts);
    for (const reader of [b, fresh]) {
      const rows = await reader.getMany(s, ids);
      expect(rows.map((r) => [r?.id, r?.username, r?.level, r?.notes])).toStrictEqual(
        ids.map((id) => [id, name(id), level(id), `n-${id}`]),
      );
      const found = await reader.search(s, Q().where('level >= $1', 7).orderBy('id').build());
      expect(found.map((r) => r.id).sort()).toStrictEqual([...ids].sort());
    }
    await a.flushDirty();
    await b.flushDirty();
    expect(await a.queueDepth()).toBe(0);
    const stored = await stack.db.select().from(stack.tables.players);
    const mine = stored.filter((r) => r.id.startsWith('w') && r.username.startsWith(p));
    expect(mine.map((r) => [r.id, r.username, r.level, r.notes]).sort()).toStrictEqual(
      ids.map((id) => [id, name(id), level(id), `n-${id}`]).sort(),
    );
    for (let k = 0; k < 4; k++) {
      const index = `{${p}#${k}}:${s.identity}:${s.fingerprint}-json:pending`;
      expect(await stack.redis.hlen(index), `bucket ${k}'s pending index after the flush`).toBe(0);
    }
    // After the flush: the rows L2 holds are Postgres's, read by a fresh instance.
    const c = four(p, s, opts);
    expect((await c.getMany(s, ids)).map((r) => r?.level)).toStrictEqual(ids.map(level));
    await Promise.all([a.close(), b.close(), c.close(), fresh.close()]);
  });

  it('an L2-only schema: writes in every bucket, read and deleted by another instance', async () => {
    const p = `${stack.keyPrefix}l2only`;
    const s = plain();
    const a = four(p, s, { l3: undefined });
    const b = four(p, s, { l3: undefined });
    const ids = Array.from({ length: 16 }, (_, i) => `o${i}`);
    await a.setMany(
      s,
      ids.map((id) => ({ id, username: `${p}-${id}`, level: 3 })),
    );
    expect((await b.getMany(s, ids)).map((r) => r?.username)).toStrictEqual(ids.map((id) => `${p}-${id}`));
    await b.set(s, { id: 'o1', username: `${p}-o1b`, level: 4 });
    await b.delete(s, 'o2');
    const c = four(p, s, { l3: undefined }); // no bus here: a fresh L1
    expect((await c.get(s, 'o1'))?.username).toBe(`${p}-o1b`);
    await expect(c.get(s, 'o2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await Promise.all([a.close(), b.close(), c.close()]);
  });
});
