/**
 * L1 coherence between SEPARATE Worker isolates: each Miniflare below is its own workerd process
 * running the same bundled Worker, so the only thing they share is the devstack (Redis, Postgres).
 * B holds a key in its L1 (10-minute TTL); A writes it; B must see the write through the
 * invalidation log within one poll interval plus slack. C has no bus and must keep the stale value,
 * which shows the measurement would fail without the bus.
 */
import { createScratchDatabase, type ScratchDatabase, withDatabase } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoherenceEnv, GetReply } from './fixtures/coherence-worker.js';
import { bundleWorker, getRow, migrate, percentile, setN, startIsolate } from './support/isolates.js';

const POLL_MS = 100;
// How long B may take to see a write: one poll interval, plus slack for noisy machines.
const BOUND_MS = POLL_MS + 2_000;
const ROUNDS = 30;

const table = uniqueName('isolates_coherence');
// The isolates' database, this file's alone (the table and Strata's own tables), dropped in afterAll.
let scratch: ScratchDatabase | undefined;
const keyPrefix = uniqueName('isolates');
const stream = uniqueName('isolates_log');
const isolates: Miniflare[] = [];
let a: Miniflare;
let b: Miniflare;
let c: Miniflare;

beforeAll(async () => {
  const { upstash, neon: neonHttp } = testDevstack();
  if (!upstash) throw new Error('the devstack has no Upstash endpoint (Redis unavailable)');
  scratch = await createScratchDatabase('isolates', testDevstack().postgres.url);
  const env: CoherenceEnv = {
    UPSTASH_REDIS_REST_URL: upstash.url,
    UPSTASH_REDIS_REST_TOKEN: upstash.token,
    // The Neon HTTP endpoint serves whichever database the connection string names.
    DATABASE_URL: withDatabase(neonHttp.connectionString, scratch.name),
    NEON_FETCH_ENDPOINT: neonHttp.httpUrl,
    TABLE: table,
    KEY_PREFIX: keyPrefix,
    POLL_MS,
  };
  const script = await bundleWorker();
  // Started one by one so a failure leaves only ones already in `isolates` for afterAll.
  for (const bound of [{ LOG_STREAM: stream }, { LOG_STREAM: stream }, {}]) {
    isolates.push(await startIsolate(script, { ...env, ...bound }));
  }
  [a, b, c] = isolates as [Miniflare, Miniflare, Miniflare];
  await migrate(a);
});

afterAll(async () => {
  await Promise.allSettled(isolates.map((mf) => mf.dispose()));
  await scratch?.drop();
  const { upstash } = testDevstack();
  if (upstash) {
    const redis = new Redis(upstash);
    const keys = await redis.keys(`${keyPrefix}:*`);
    await redis.del(stream, ...keys);
  }
});

/** Reads `id` and checks that this read was answered by the isolate's L1 (hits.l1 went up by one). */
async function readFromL1(mf: Miniflare, id: string, previous: GetReply): Promise<GetReply> {
  const reply = await getRow(mf, id);
  expect(reply.stats.hits.l1, `${id} read from L1`).toBe(previous.stats.hits.l1 + 1);
  return reply;
}

describe('L1 coherence across separate workerd isolates (Miniflare)', () => {
  it("a write on A leaves B's L1 through the invalidation log; measures time to coherence", async () => {
    const key = 'k1';
    await setN(a, key, 0);
    let last = await getRow(b, key); // fills B's L1 (from L2)
    expect(last.row?.n).toBe(0);
    last = await readFromL1(b, key, last);

    const latencies: number[] = [];
    let staleFromL1 = 0;
    for (let n = 1; n <= ROUNDS; n++) {
      // B's L1 holds n-1 now: whatever makes B see n next has to come from the bus.
      last = await readFromL1(b, key, last);
      expect(last.row?.n).toBe(n - 1);
      await setN(a, key, n);
      const started = performance.now();
      for (;;) {
        const reply = await getRow(b, key);
        const elapsed = performance.now() - started;
        if (reply.row?.n === n) {
          latencies.push(elapsed);
          last = reply;
          break;
        }
        expect(reply.row?.n, `round ${n}: B answers the old or the new value`).toBe(n - 1);
        if (reply.stats.hits.l1 > last.stats.hits.l1) staleFromL1 += 1;
        last = reply;
        if (elapsed > BOUND_MS) throw new Error(`round ${n}: B still stale after ${elapsed.toFixed(0)} ms`);
      }
    }

    console.info(
      `[coherence across isolates] p50 ${percentile(latencies, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(latencies, 99).toFixed(1)} ms over ${ROUNDS} writes ` +
        `(poll ${POLL_MS} ms; ${staleFromL1} stale reads served by B's L1 meanwhile)`,
    );
    expect(latencies).toHaveLength(ROUNDS);
    expect(Math.max(...latencies)).toBeLessThanOrEqual(BOUND_MS);
    // Between a write and B's next poll, B's L1 answered (the old value): the cache was really in use.
    expect(staleFromL1).toBeGreaterThan(0);
    expect(last.stats.invalidationsApplied).toBeGreaterThanOrEqual(ROUNDS);
    expect(last.stats.errors).toBe(0);
  });

  it('without a bus, C keeps serving the stale value from its L1 after A writes', async () => {
    const key = 'k2';
    await setN(a, key, 1);
    let onC = await getRow(c, key);
    onC = await readFromL1(c, key, onC);
    expect(onC.row?.n).toBe(1);
    let onB = await getRow(b, key);

    await setN(a, key, 2);
    // B (with the bus) converging proves the write is in L2/L3 and on the log by now.
    const started = performance.now();
    while (onB.row?.n !== 2) {
      if (performance.now() - started > BOUND_MS) throw new Error('B never saw the write');
      onB = await getRow(b, key);
    }
    // And a few more of C's poll intervals pass: C has nothing to poll, so time does not help it.
    await new Promise((resolve) => setTimeout(resolve, 3 * POLL_MS));

    onC = await readFromL1(c, key, onC);
    expect(onC.row?.n).toBe(1);
    expect(onC.stats.invalidationsApplied).toBe(0);
    expect(onC.stats.errors).toBe(0);
  });
});
