import { testDevstack } from '@strata/devstack/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modesFixture } from '../../packages/core/test/support/modes-app.js';
import {
  Delete,
  Flush,
  type ModesModel,
  type ModesReal,
  modelled,
  Read,
  SetRow,
} from '../../packages/core/test/support/modes-commands.js';
import { type ReorderProxy, randomDelays, startReorderProxy } from '../support/reorder-proxy.js';

/**
 * The write-modes model (packages/core/test/model-write-modes.test.ts: one app writing one table in
 * write-behind and write-through at once, an Upstash log bus polled on every read) with every L2
 * and bus request and reply held a random few milliseconds by a loopback proxy (seeded), so the
 * background requests (fills, publishes, polls, claim renewals) overtake the next command's. After
 * every command each instance reads each key as the model says; at the end, after a flush, Postgres.
 */
const IDS = 3;
const RUNS = Number(process.env.REORDER_NUM_RUNS ?? 12);
const MAX_DELAY_MS = Number(process.env.REORDER_MAX_DELAY_MS ?? 25);

const modes = modesFixture('reorder_modes');

type Real = ModesReal;
type Model = ModesModel;

const id = fc.integer({ min: 0, max: IDS - 1 });
const mode = fc.constantFrom('behind' as const, 'through' as const);
const commands = [
  fc.tuple(mode, id, fc.boolean()).map(([m, i, p]) => new SetRow(m, i, p)),
  fc.tuple(mode, id, fc.boolean()).map(([m, i, p]) => new SetRow(m, i, p)),
  fc.tuple(mode, id).map(([m, i]) => new Delete(m, i)),
  fc.constant(new Flush()),
  fc.tuple(mode, id).map(([m, i]) => new Read(m, i)),
  fc.tuple(mode, id).map(([m, i]) => new Read(m, i)),
];

describe('both write modes over Upstash REST with requests and replies overtaking each other', () => {
  let proxy: ReorderProxy;
  beforeAll(async () => {
    proxy = await startReorderProxy(testDevstack().upstash!.url);
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('every read answers the last acknowledged write; after the flush Postgres holds it', async () => {
    const { behind, through, instance } = await modes.app('r', {}, proxy.url);
    const real0 = {
      behind: { strata: instance(behind), schema: behind },
      through: { strata: instance(through), schema: through },
    };
    const seed = randomDelays(proxy, MAX_DELAY_MS);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 16, size: 'max' }), async (cmds) => {
        run += 1;
        const real: Real = { ...real0, key: (i) => `o${run}-${i}` };
        const model: Model = [];
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        await real.behind.strata.flushDirty();
        for (let i = 0; i < IDS; i++) {
          const key = real.key(i);
          expect(modelled(await modes.rowIn(key)), `${key} in Postgres (proxy seed ${seed})`).toEqual(
            model[i],
          );
          for (const m of ['behind', 'through'] as const) {
            const { strata, schema } = real[m];
            const got = modelled((await strata.find(schema, key)) as Record<string, unknown> | null);
            expect(got, `${key} read by the ${m} instance (proxy seed ${seed})`).toEqual(model[i]);
          }
        }
      }),
      { numRuns: RUNS },
    );
    await Promise.all([real0.behind.strata.close(), real0.through.strata.close()]);
  }, 300_000);
});
