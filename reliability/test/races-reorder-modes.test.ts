import { testDevstack } from '@strata/devstack/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Strata } from '../../packages/core/src/index.js';
import { type ItemsSchema, modesFixture } from '../../packages/core/test/support/modes-app.js';
import { type ReorderProxy, seededRandom, startReorderProxy } from '../support/reorder-proxy.js';

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

type Mode = 'behind' | 'through';
interface Real {
  readonly behind: { strata: Strata; schema: ItemsSchema };
  readonly through: { strata: Strata; schema: ItemsSchema };
  readonly key: (id: number) => string;
}
type Model = ({ n: number; note: string | null } | undefined)[];

let seq = 0;
const row = (key: string, n: number, partial = false) =>
  partial ? { id: key, n } : { id: key, n, note: `note-${n}` };
const after = (before: Model[number], n: number, partial: boolean) => ({
  n,
  note: partial ? (before?.note ?? null) : `note-${n}`,
});
const modelled = (found: Record<string, unknown> | null | undefined) =>
  found ? { n: found.n as number, note: found.note as string | null } : undefined;

type Cmd = fc.AsyncCommand<Model, Real>;

class SetRow implements Cmd {
  constructor(
    readonly mode: Mode,
    readonly id: number,
    readonly partial: boolean,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const n = ++seq;
    const { strata, schema } = real[this.mode];
    await strata.set(schema, row(real.key(this.id), n, this.partial));
    model[this.id] = after(model[this.id], n, this.partial);
  }
  toString = () => `set(${this.mode}, ${this.id}${this.partial ? ', partial' : ''})`;
}

class Delete implements Cmd {
  constructor(
    readonly mode: Mode,
    readonly id: number,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const { strata, schema } = real[this.mode];
    await strata.delete(schema, real.key(this.id));
    model[this.id] = undefined;
  }
  toString = () => `delete(${this.mode}, ${this.id})`;
}

class Flush implements Cmd {
  check = () => true;
  async run(_model: Model, real: Real) {
    await real.behind.strata.flushDirty();
  }
  toString = () => 'flush';
}

/** Reads the key on one instance: it must answer the last acknowledged write (the bus is polled on every read). */
class Read implements Cmd {
  constructor(
    readonly mode: Mode,
    readonly id: number,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const { strata, schema } = real[this.mode];
    const got = modelled((await strata.find(schema, real.key(this.id))) as Record<string, unknown> | null);
    expect(got, `${real.key(this.id)} read by the ${this.mode} instance`).toEqual(model[this.id]);
  }
  toString = () => `read(${this.mode}, ${this.id})`;
}

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
    const seed = Number(process.env.REORDER_SEED ?? Date.now() % 100_000);
    const random = seededRandom(seed);
    proxy.delays(() => ({
      request: random() < 0.5 ? random() * MAX_DELAY_MS : 0,
      reply: random() < 0.5 ? random() * MAX_DELAY_MS : 0,
    }));
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
