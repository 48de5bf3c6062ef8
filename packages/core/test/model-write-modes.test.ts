import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterBuckets, type Strata, type StrataConfig } from '../src/index.js';
import { type ItemsSchema, modesFixture } from './support/modes-app.js';
import {
  after,
  Delete,
  Flush,
  type Mode,
  type ModesModel,
  type ModesReal,
  modelled,
  nextN,
  row,
  SetRow,
} from './support/modes-commands.js';

// Model-based run of one app (one keyPrefix) writing one table in both modes at once: a
// write-behind instance and a write-through one (a rolling deploy switching `writeMode`), any
// sequence of sets (whole rows, or leaving `note` out; of one key or several), deletes,
// transactions, flushes and restarts of the write-through instance (a new one knows none of the
// app's counters yet). Each write is acknowledged before the next is made, so the row they leave is
// the one every tier must hold: after a final flush, Postgres, each instance and a new one answer
// it. (Before `ThroughOrder`, a write-through write after a queued write-behind write of its key was
// undone by that write's flush; before `overPending`, a write-through set leaving `note` out after a
// queued write-behind write lost that write's note.)

const IDS = 3;
const RUNS = Number(process.env.WRITE_MODES_MODEL_RUNS ?? 12);

const modes = modesFixture('modeswitch_model');

interface Real extends ModesReal {
  /** Replaced by a new instance now and then (an isolate that restarts: it knows no counter yet). */
  through: { strata: Strata; schema: ItemsSchema };
  readonly newThrough: () => Strata;
}
type Model = ModesModel;

/** Whole rows of several ids in one call: one write over the buckets they fall in. */
class SetMany implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly mode: Mode,
    readonly ids: readonly number[],
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const { strata, schema } = real[this.mode];
    const ns = this.ids.map(() => nextN());
    await strata.setMany(
      schema,
      this.ids.map((id, i) => row(real.key(id), ns[i]!)),
    );
    this.ids.forEach((id, i) => {
      model[id] = after(model[id], ns[i]!, false);
    });
  }
  toString = () => `setMany(${this.mode}, ${this.ids.join(' ')})`;
}

/** The write-through instance restarts: the new one knows none of the app's counters yet. */
class NewThrough implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(_model: Model, real: Real) {
    await real.through.strata.close();
    real.through = { strata: real.newThrough(), schema: real.through.schema };
  }
  toString = () => 'new write-through instance';
}

/** A write-through transaction: a set of one id (whole, or leaving `note` out), a delete of another. */
class Tx implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly set: number,
    readonly del: number,
    readonly partial: boolean,
  ) {}
  check = () => this.set !== this.del;
  async run(model: Model, real: Real) {
    const n = nextN();
    const { strata, schema } = real.through;
    await strata
      .tx()
      .set(schema, row(real.key(this.set), n, this.partial))
      .delete(schema, real.key(this.del))
      .commit();
    model[this.set] = after(model[this.set], n, this.partial);
    model[this.del] = undefined;
  }
  toString = () => `tx(set ${this.set}${this.partial ? ' partial' : ''}, delete ${this.del})`;
}

const id = fc.integer({ min: 0, max: IDS - 1 });
const mode = fc.constantFrom('behind' as const, 'through' as const);
// Flushes rarer than writes: the interesting case is a write acknowledged while another of its key
// waits in the queue.
const partial = fc.boolean();
const commands = [
  fc.tuple(mode, id, partial).map(([m, i, p]) => new SetRow(m, i, p)),
  fc.tuple(mode, id, partial).map(([m, i, p]) => new SetRow(m, i, p)),
  fc.tuple(mode, id, partial).map(([m, i, p]) => new SetRow(m, i, p)),
  fc.tuple(mode, id).map(([m, i]) => new Delete(m, i)),
  fc.tuple(mode, fc.uniqueArray(id, { minLength: 2, maxLength: IDS })).map(([m, ids]) => new SetMany(m, ids)),
  fc.tuple(id, id, partial).map(([s, d, p]) => new Tx(s, d, p)),
  fc.constant(new NewThrough()),
  fc.constant(new Flush()),
];

describe('one app, both write modes, model-based', () => {
  for (const buckets of [1, 2]) {
    it(`buckets: ${buckets}: after the flush every tier holds each key's last acknowledged write`, async () => {
      const extra: Partial<StrataConfig> = buckets > 1 ? { buckets, bucketing: clusterBuckets } : {};
      const { behind, through, instance } = await modes.app(`b${buckets}`, extra);
      const real0 = {
        behind: { strata: instance(behind), schema: behind },
        through: { strata: instance(through), schema: through },
        newThrough: () => instance(through),
      };
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: 14, size: 'max' }), async (cmds) => {
          run += 1;
          const real: Real = { ...real0, key: (i) => `b${buckets}r${run}-${i}` };
          const model: Model = [];
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          real0.through = real.through;
          await real.behind.strata.flushDirty();
          const fresh = instance(through);
          for (let i = 0; i < IDS; i++) {
            const key = real.key(i);
            const want = model[i];
            expect(modelled(await modes.rowIn(key)), `${key} in Postgres`).toEqual(want);
            for (const [name, { strata, schema }] of [
              ['write-behind instance', real.behind],
              ['write-through instance', real.through],
              ['new instance', { strata: fresh, schema: through }],
            ] as const) {
              const got = (await strata.find(schema, key)) as Model[number];
              expect(modelled(got), `${key} read by the ${name}`).toEqual(want);
            }
          }
          await fresh.close();
        }),
        { numRuns: RUNS },
      );
      await Promise.all([real0.behind.strata.close(), real0.through.strata.close()]);
    }, 60_000); // restarts and writes of several keys: ~6 s alone, more beside other files
  }
});
