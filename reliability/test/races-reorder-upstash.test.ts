import { defineSchema, type Strata } from '@strata/core';
import { createUpstashL2 } from '@strata/core/upstash';
import { testDevstack } from '@strata/devstack/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  awaitBus,
  CoherenceModel,
  type CoherenceReal,
  coherenceCommands,
} from '../support/model-coherence.js';
import { type ReorderProxy, randomDelays, startReorderProxy } from '../support/reorder-proxy.js';
import { type TierStack, tierStack } from '../support/stack-tiers.js';

/**
 * The coherence model (races-coherence.test.ts) over Upstash REST with every request and reply
 * held a random few milliseconds by a loopback proxy (seeded): concurrent requests of one instance
 * (a generation read beside a move, a fill beside a write, a drop beside a read) reach Redis, or
 * hear back, in another order than they were sent. Plus changes made behind Strata's back followed
 * by `invalidate` / `invalidateAll`: once those return, the instance reads the change.
 */
const BOUND_MS = 500;
const INSTANCES = 3;
const KEYS = 3;
const RUNS = Number(process.env.REORDER_NUM_RUNS ?? 20);
const MAX_DELAY_MS = Number(process.env.REORDER_MAX_DELAY_MS ?? 25);

type Cmd = fc.AsyncCommand<CoherenceModel, CoherenceReal>;

/** A row changed by SQL behind Strata's back, then `invalidate(key)` (or `invalidateAll`) on one instance. */
class ExternalCmd implements Cmd {
  constructor(
    readonly stack: () => TierStack,
    readonly inst: number,
    readonly key: number,
    readonly all: boolean,
  ) {}
  check = () => true;
  async run(m: CoherenceModel, r: CoherenceReal) {
    const key = m.keys[this.key]!;
    const level = m.nextLevel++;
    const s = this.stack();
    await s.pool.query(
      `insert into "${s.name}"."accounts" (id, name, level) values ($1, 'n', $2)
       on conflict (id) do update set level = excluded.level`,
      [key, level],
    );
    const strata = r.instances[this.inst]!;
    if (this.all) await strata.invalidateAll(r.schema);
    else await strata.invalidate(r.schema, key);
    m.wrote(this.inst, key, level, performance.now());
    if (this.all) for (const k of m.keys) m.refreshed(this.inst, k);
    m.published[this.inst]! += 1;
    m.operations += 1;
  }
  toString = () => `external(i${this.inst}, k${this.key}, ${this.all ? 'invalidateAll' : 'invalidate'})`;
}

describe('races over Upstash REST with requests and replies overtaking each other', () => {
  let stack: TierStack;
  let proxy: ReorderProxy;
  let instances: Strata[] = [];

  beforeAll(async () => {
    stack = await tierStack('reorder_up', 'upstash');
    proxy = await startReorderProxy(testDevstack().upstash!.url);
  });
  afterAll(async () => {
    await Promise.allSettled(instances.map((s) => s.close()));
    await proxy?.close();
    await stack?.cleanup();
  });

  it('no read returns a value older than the last acknowledged write or invalidate beyond the bound; tiers agree with Postgres', async () => {
    const schema = defineSchema({
      table: stack.tables.accounts,
      name: 'reorder',
      l1: { ttl: '10m', maxEntries: 1_000 },
    });
    const token = testDevstack().upstash!.token;
    instances = Array.from({ length: INSTANCES }, () =>
      stack.strata({
        l2: createUpstashL2({ url: proxy.url, token }),
        schemas: [schema],
        coherence: { bus: stack.bus() },
        ttl: { l1: '10m' },
        timeouts: { l2: '5s', l3: '10s' },
      }),
    );
    for (const s of instances) await s.find(schema, 'warm-up');
    const seed = randomDelays(proxy, MAX_DELAY_MS);
    const inst = fc.nat({ max: INSTANCES - 1 });
    const key = fc.nat({ max: KEYS - 1 });
    const external = [
      fc.tuple(inst, key).map(([i, k]) => new ExternalCmd(() => stack, i, k, false)),
      fc.tuple(inst, key).map(([i, k]) => new ExternalCmd(() => stack, i, k, true)),
    ];
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.commands([...coherenceCommands(INSTANCES, KEYS, { crossInstanceRaces: true }), ...external], {
          maxCommands: 30,
          size: 'max',
        }),
        async (cmds) => {
          run += 1;
          const keys = Array.from({ length: KEYS }, (_, k) => `o${run}-k${k}`);
          const model = new CoherenceModel(INSTANCES, keys, BOUND_MS);
          const real: CoherenceReal = {
            instances,
            schema: schema as never,
            appliedAtStart: instances.map((s) => s.stats().invalidationsApplied),
            row: (k, level) => ({ id: k, name: 'n', level }),
          };
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await awaitBus(model, real);
          for (const k of keys) {
            const last = model.latest(k).level;
            const rows = await Promise.all(instances.map((s) => s.find(schema, k)));
            const [stored] = await stack.l3.findMany(schema, [k]);
            expect(
              { instances: rows.map((r) => r?.level ?? null), l3: (stored?.row.level as number) ?? null },
              `${k} (proxy seed ${seed})`,
            ).toEqual({ instances: rows.map(() => last), l3: last });
          }
        },
      ),
      {
        numRuns: RUNS,
        ...(process.env.RACES_SEED && { seed: Number(process.env.RACES_SEED), path: process.env.RACES_PATH }),
      },
    );
  });
});
