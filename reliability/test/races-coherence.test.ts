import type { Strata } from '@strata/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record } from '../support/ledger.js';
import {
  awaitBus,
  CoherenceModel,
  type CoherenceReal,
  coherenceCommands,
} from '../support/model-coherence.js';
import { type L2Kind, type TierStack, testKey, tierStack } from '../support/stack-tiers.js';

/**
 * Staleness bound used by the model (ms): how long after an acknowledged write on one instance
 * another may still return the value it replaced, and how long a bus message may take to be applied
 * everywhere. README "L1 coherence" measured Redis pub/sub at p99 4 ms; 500 ms leaves room for a
 * loaded CI machine without letting a lost message pass (a lost message never arrives).
 */
const BOUND_MS = 500;
const INSTANCES = 3;
const KEYS = 3;
const NUM_RUNS = Number(process.env.RACES_NUM_RUNS ?? 60);
/**
 * Reads on another instance concurrent with a write: on (a fill from a read that raced a write on
 * another instance is a SET NX, and deletes leave tombstones, so it cannot land over the write).
 * RACES_CROSS_INSTANCE=0 leaves them out.
 */
const CROSS_INSTANCE = process.env.RACES_CROSS_INSTANCE !== '0';

/**
 * The cases: each L2, and one whose schema has stale and grace windows past TTLs of a few
 * milliseconds, so rows keep going stale mid-run and refresh in the background while the commands
 * write, invalidate and read: the same rules must hold (a stale row is still the latest write, or
 * the bus drops it like any other copy).
 */
const CASES: { l2Kind: L2Kind; windows: boolean; runs: number }[] = [
  { l2Kind: 'ioredis', windows: false, runs: NUM_RUNS },
  { l2Kind: 'upstash', windows: false, runs: NUM_RUNS },
  { l2Kind: 'ioredis', windows: true, runs: Math.ceil(NUM_RUNS / 2) },
];

describe.each(CASES)(
  'races: $l2Kind L2, Redis pub/sub bus, 3 instances, stale windows: $windows',
  ({ l2Kind, windows, runs }) => {
    let stack: TierStack;
    let instances: Strata[] = [];
    const tally = { operations: 0, writesAcknowledged: 0, writesFound: 0, staleReads: 0, runs: 0 };

    beforeAll(async () => {
      stack = await tierStack(`races_${l2Kind}${windows ? '_swr' : ''}`, l2Kind);
    });
    afterAll(async () => {
      await Promise.allSettled(instances.map((s) => s.close()));
      await stack?.cleanup();
      record({
        category: 'races',
        scenario: `model-based, ${INSTANCES} instances, ${l2Kind} L2${windows ? ', stale and grace windows past 2/5 ms TTLs' : ''} (${tally.runs} runs, ${tally.staleReads} stale reads within ${BOUND_MS} ms)`,
        operations: tally.operations,
        writesAcknowledged: tally.writesAcknowledged,
        writesFound: tally.writesFound,
        hangs: 0,
      });
    });

    it('no read returns a value older than the last acknowledged write beyond the bound; failures shrink', async () => {
      const schema = stack.schemaOf(
        windows
          ? {
              name: 'race',
              l1: { ttl: '2ms', maxEntries: 1_000 },
              l2: { ttl: '5ms' },
              stale: '10m',
              grace: '10m',
            }
          : { name: 'race' },
      );
      instances = Array.from({ length: INSTANCES }, () =>
        stack.strata({
          schemas: [schema],
          coherence: { bus: stack.bus() },
          encryptionKey: testKey(7),
          ttl: { l1: '10m' }, // coherence must come from the bus, not from short TTLs
          timeouts: { l2: '5s', l3: '10s' },
        }),
      );
      // Every instance subscribed before the first write (a read waits for the subscription).
      for (const s of instances) await s.find(schema, 'warm-up');
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.commands(coherenceCommands(INSTANCES, KEYS, { crossInstanceRaces: CROSS_INSTANCE }), {
            maxCommands: 40,
            size: 'max',
          }),
          async (cmds) => {
            run += 1;
            const keys = Array.from({ length: KEYS }, (_, k) => `r${run}-k${k}`);
            const model = new CoherenceModel(INSTANCES, keys, BOUND_MS);
            const real: CoherenceReal = {
              instances,
              schema: schema as never,
              appliedAtStart: instances.map((s) => s.stats().invalidationsApplied),
              row: (key, level) => ({ id: key, name: 'n', level, email: `${key}.${level}@race.example` }),
            };
            await fc.asyncModelRun(() => ({ model, real }), cmds);
            // The end state: after the bus settles, every instance and Postgres hold the last write.
            await awaitBus(model, real);
            let found = 0;
            for (const key of keys) {
              const last = model.latest(key).level;
              const rows = await Promise.all(instances.map((s) => s.find(schema, key)));
              const [stored] = await stack.l3.findMany(schema, [key]);
              const ok =
                rows.every((r) => (r?.level ?? null) === last) &&
                ((stored?.row.level as number) ?? null) === last;
              if (ok) found += 1;
              else if (process.env.RACES_DEBUG) {
                const keysInRedis = (await stack.redis.keys(`${stack.name}:*`)).filter((k) =>
                  k.endsWith(`:${key}`),
                );
                const raw = await Promise.all(keysInRedis.map((k) => stack.redis.get(k)));
                console.log(
                  'DEBUG',
                  key,
                  JSON.stringify({
                    stored,
                    keysInRedis,
                    raw: raw.map((v) => v?.slice(0, 60)),
                    peeks: instances.map((s) => s.peek(schema, key)),
                  }),
                );
              }
              expect(
                ok,
                `${key}: expected ${last}, instances ${rows.map((r) => r?.level ?? null)}, L3 ${String(stored?.row.level)}`,
              ).toBe(true);
            }
            tally.runs += 1;
            tally.operations += model.operations;
            tally.writesAcknowledged += model.writesAcknowledged;
            // Every acknowledged write is accounted for when each key's last one is what every tier serves.
            tally.writesFound += found === keys.length ? model.writesAcknowledged : 0;
            tally.staleReads += model.staleReads;
          },
        ),
        {
          numRuns: runs,
          ...(process.env.RACES_SEED && {
            seed: Number(process.env.RACES_SEED),
            path: process.env.RACES_PATH,
          }),
        },
      );
      if (windows) {
        // The windows were exercised: rows were answered stale and refreshed behind the reads.
        const sum = (pick: (s: Strata) => number) => instances.reduce((n, s) => n + pick(s), 0);
        expect(sum((s) => s.stats().staleHits)).toBeGreaterThan(0);
        expect(sum((s) => s.stats().refreshes)).toBeGreaterThan(0);
      }
    });
  },
);
