import { releaseEndedClients } from '@strata/adapter-node';
import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
} from '@strata/adapter-node/redis-tcp';
import { Q, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { type FaultScratch, faultScratch, settleBy } from '../support/fault-harness.js';
import { BUSY_TIMEOUT } from '../support/past-load.js';
import { startTcpProxy, type Trap } from '../support/tcp-proxy.js';

// Helper "huntpg": Postgres connection cuts (real, through a TCP proxy) at chosen statements of
// write-through sets / setManys / transactions, write-behind flushes and searches. A on the proxy,
// B direct. Afterwards Postgres holds the last acknowledged value of each key (or a later write
// whose outcome was unknown), and every instance's tiers agree with Postgres. Measured: 40 runs
// (seeds 1-20, both modes), 1,000 operations, 531 cuts: clean after the fix of
// regression-unknown-outcome-told (before it, write-through seeds 5 and 9 left B's L1 stale).
// By default write-through seed 5 (about 4 s); PROBE_SEEDS=1,2,… and
// PROBE_MODES=write-through,write-behind run more.

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await settleBy(c(), 8_000);
}, 60_000);

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const text = (b: Buffer) => b.toString('latin1');
const TRAPS: Record<string, Omit<Trap, 'action'> & { action: Trap['action'] }> = {
  insertCut: { direction: 'up', match: (b) => /insert into/i.test(text(b)), action: 'cut' },
  insertLostReply: { direction: 'up', match: (b) => /insert into/i.test(text(b)), action: 'cut-on-reply' },
  commitCut: { direction: 'up', match: (b) => /commit/i.test(text(b)), action: 'cut' },
  commitLostReply: { direction: 'up', match: (b) => /commit/i.test(text(b)), action: 'cut-on-reply' },
  selectCut: {
    direction: 'up',
    match: (b) => /select/i.test(text(b)) && /items/.test(text(b)),
    action: 'cut',
  },
  selectLostReply: {
    direction: 'up',
    match: (b) => /select/i.test(text(b)) && /items/.test(text(b)),
    action: 'cut-on-reply',
  },
  anyReply: { direction: 'down', match: () => true, action: 'cut' },
};

async function stack(store: FaultScratch, mode: 'write-through' | 'write-behind') {
  const proxy = await startTcpProxy(Number(new URL(store.databaseUrl).port || 5432));
  const schema = store.schema(mode);
  const make = (url: string) => {
    const pool = new pg.Pool({ connectionString: url, max: 3 });
    pool.on('error', () => {});
    pool.on('connect', (c) => c.on('error', () => {}));
    releaseEndedClients(pool);
    cleanups.push(() => pool.end());
    const s = new Strata({
      l2: createIoredisL2(store.redisUrl),
      l3: createDrizzleL3(drizzle(pool), { migrationsSchema: store.name }),
      coherence: { bus: createRedisPubSubBus({ url: store.redisUrl, channel: `${store.name}:bus` }) },
      keyPrefix: store.name,
      ttl: { l1: '10m', l2: '10m' },
      // Postgres fails here by cuts, which end a call at once: the L3 timeout is a safety net only,
      // one that no call going through reaches on a busy machine (see BUSY_TIMEOUT).
      timeouts: { l3: BUSY_TIMEOUT },
      ...(mode === 'write-behind' && {
        writeBehind: {
          queue: createRedisStreamQueue({
            url: store.redisUrl,
            keyPrefix: store.name,
            claimIdleMs: 300,
            allowVolatile: true,
          }),
        },
      }),
      schemas: [schema],
    });
    cleanups.push(() => s.close());
    return s;
  };
  const a = make(proxy.url(store.databaseUrl));
  const b = make(store.databaseUrl);
  cleanups.push(() => proxy.close());
  for (const s of [a, b]) await s.find(schema, 'warm-up');
  return { proxy, schema, a, b, make: () => make(store.databaseUrl) };
}

const code = (e: unknown) => String((e as { code?: string }).code ?? e);

describe('postgres cuts at chosen statements', () => {
  for (const mode of (process.env.PROBE_MODES ?? 'write-through').split(',') as (
    | 'write-through'
    | 'write-behind'
  )[])
    for (const seed of (process.env.PROBE_SEEDS ?? '5').split(',').map(Number))
      it(`${mode} seed ${seed}`, async () => {
        const store = await faultScratch(`probe_pgcut_${mode === 'write-through' ? 'wt' : 'wb'}`);
        cleanups.push(() => store.cleanup());
        const { proxy, schema, a, b, make } = await stack(store, mode);
        const rand = rng(seed);
        const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
        const acked = new Map<string, number | null>();
        const unknown = new Map<string, Set<number | null>>();
        let n = 0;
        const outcomes: Record<string, number> = {};
        const note = (k: string) => {
          outcomes[k] = (outcomes[k] ?? 0) + 1;
        };
        const ack = (id: string, v: number | null) => {
          acked.set(id, v);
          unknown.delete(id);
        };
        const maybe = (id: string, v: number | null) => {
          if (!unknown.has(id)) unknown.set(id, new Set());
          unknown.get(id)!.add(v);
        };
        for (let round = 0; round < 25; round++) {
          const trapName = Object.keys(TRAPS)[Math.floor(rand() * Object.keys(TRAPS).length)]!;
          const armed = rand() < 0.7;
          if (armed) void proxy.trap({ ...TRAPS[trapName]! });
          const who = rand() < 0.8 ? a : b;
          const op = Math.floor(rand() * 5);
          const k1 = keys[Math.floor(rand() * keys.length)]!;
          const k2 = keys[Math.floor(rand() * keys.length)]!;
          const v1 = ++n;
          const v2 = ++n;
          let p: Promise<unknown>;
          let writes: [string, number | null][] = [];
          if (op === 0) {
            writes = [[k1, v1]];
            p = who.set(schema, { id: k1, n: v1 });
          } else if (op === 1) {
            writes =
              k1 === k2
                ? [[k1, v2]]
                : [
                    [k1, v1],
                    [k2, v2],
                  ];
            p = who.setMany(
              schema,
              k1 === k2
                ? [{ id: k1, n: v2 }]
                : [
                    { id: k1, n: v1 },
                    { id: k2, n: v2 },
                  ],
            );
          } else if (op === 2) {
            writes =
              k1 === k2
                ? [[k1, null]]
                : [
                    [k1, v1],
                    [k2, null],
                  ];
            p =
              k1 === k2
                ? who.tx().delete(schema, k1).commit()
                : who.tx().set(schema, { id: k1, n: v1 }).delete(schema, k2).commit();
          } else if (op === 3) {
            p = who.search(schema, Q().build()).then(() => who.searchCached(schema, Q().build()));
          } else {
            p = who.flushDirty();
          }
          const r = await settleBy(p, 5_000);
          if ('hung' in r) throw new Error(`round ${round}: hung (${trapName}, op ${op})`);
          note(`${op}:${r.ok ? 'ok' : code(r.error)}`);
          for (const [id, v] of writes) (r.ok ? ack : maybe)(id, v);
          // Reads through A, so a read or fill meets what is left of the trap.
          for (const id of [k1, k2]) await a.find(schema, id).catch(() => undefined);
          // The trap not fired yet is dropped with its connection.
          if (armed && round % 5 === 4) proxy.cutAll();
        }
        proxy.cutAll();
        for (let i = 0; i < 5; i++) {
          const r = await settleBy(Promise.all([a.flushDirty(), b.flushDirty()]), 10_000);
          if ('ok' in r && r.ok) break;
        }
        // A fresh connection for every check: what the proxy may still hold is gone (an idle client
        // reset just now fails its next query once: read through it first).
        proxy.cutAll();
        for (const s of [a, b])
          for (const id of keys) await s.find(schema, `warm-${id}`).catch(() => undefined);
        const stored = await store.stored();
        const wrong: string[] = [];
        for (const id of keys) {
          const got = stored.get(id) ?? null;
          const want = acked.has(id) ? acked.get(id)! : null;
          if (got !== want && !unknown.get(id)?.has(got))
            wrong.push(`${id}: pg ${got} acked ${want} unknown ${[...(unknown.get(id) ?? [])]}`);
        }
        const { rows: vrows } = await store.pool.query<{ id: string; deleted: boolean; version: string }>(
          `select id, deleted, version from "${store.name}"._strata_versions where schema = $1`,
          [`${store.name}.items`],
        );
        const versionWrong = keys.filter((id) => {
          const v = vrows.find((r) => r.id === id);
          return stored.has(id) ? !v || v.deleted : v !== undefined && !v.deleted;
        });
        expect(versionWrong).toEqual([]);
        const fresh = make();
        const disagree: string[] = [];
        for (const [name, s] of [
          ['A', a],
          ['B', b],
          ['fresh', fresh],
        ] as const)
          for (const id of keys) {
            const got =
              (await s.find(schema, id).catch((e: unknown) => ({ n: `err ${code(e)}` })))?.n ?? null;
            if (got !== (stored.get(id) ?? null))
              disagree.push(`${name} ${id}: ${got} pg ${stored.get(id) ?? null}`);
          }
        const listed = await fresh.search(schema, Q().build());
        const listedWrong =
          listed.filter((r) => stored.get(r.id) !== r.n).length + (stored.size - listed.length);
        expect(proxy.stats().trapsFired, JSON.stringify(outcomes)).toBeGreaterThan(5);
        expect(
          wrong,
          'Postgres holds the last acknowledged write of each key (or a later unknown one)',
        ).toEqual([]);
        expect(disagree, 'every instance reads what Postgres holds').toEqual([]);
        expect(listedWrong, 'a search lists what Postgres holds').toBe(0);
      }, 60_000);
});
