import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, Strata } from '../src/index.js';
import { EpochMoved } from '../src/l3/epoch-moved.js';
import { EPOCH_SPAN } from '../src/l3/epoch-span.js';
import type { WriteOp } from '../src/l3/types.js';
import { DRIVERS, type EngineStack, engineStack } from './support/stack.js';

// The L3 side of one version order per app (docs/semantics.md, "One version order per app"), over
// every driver: a Postgres-ordered write with a floor is ordered at it (applied only over an older
// stored version, else skipped as older; never stored above it); one without is stored + 1; an op with
// an epoch guard is refused whole (EpochMoved, nothing written) once a later epoch was started, in
// one statement, in the one-row prepared form and in a transaction of several groups.

describe.each(DRIVERS)('Write.floor and WriteOp.epoch over %s', (driver) => {
  let stack: EngineStack;
  let schema: ReturnType<typeof defineSchema<EngineStack['tables']['counters']>>;

  beforeAll(async () => {
    stack = await engineStack(`modeswitch_l3_${driver.replace('-', '_')}`, driver);
    schema = defineSchema({ table: stack.tables.counters });
    await new Strata({ l3: stack.l3, schemas: [schema] }).migrate();
  });
  afterAll(() => stack?.cleanup());

  const write = (op: Omit<WriteOp, 'schema'>) => stack.l3.write([{ schema, ...op }]);
  const versions = async (op: Omit<WriteOp, 'schema'>) => (await write(op))[0]!.map((o) => o.version);

  it('a floor above the stored version is taken, one at or below it is skipped as older; none is stored + 1', async () => {
    expect(await versions({ writes: [{ row: { id: 1, n: 1 }, floor: 1_000 }] })).toEqual([1_000]);
    // Below the stored version: not applied, nothing written, its own version said (never 1_001: a
    // version the counter hands out later).
    expect(await write({ writes: [{ row: { id: 1, n: 2 }, floor: 10 }] })).toEqual([
      [{ applied: false, version: 10 }],
    ]);
    expect(await write({ writes: [{ id: 1, floor: 1_000 }] })).toEqual([
      [{ applied: false, version: 1_000 }],
    ]);
    expect((await stack.l3.findMany(schema, [1])).map((r) => r.row.n)).toEqual([1]);
    expect(await versions({ writes: [{ row: { id: 1, n: 3 } }] })).toEqual([1_001]);
    // Several rows (one statement), a delete, and two shapes (a transaction of two groups).
    expect(
      await versions({
        writes: [{ row: { id: 2, n: 1 }, floor: 5_000 }, { row: { id: 3, n: 1 } }, { id: 1, floor: 7_000 }],
      }),
    ).toEqual([5_000, 1, 7_000]);
    // The same, two of them skipped: the transaction's other writes stand.
    const skipped = await write({
      writes: [
        { row: { id: 2, n: 2 }, floor: 4_000 },
        { row: { id: 3, n: 2 } },
        { row: { id: 4, n: 1 }, floor: 9 },
        { id: 1, floor: 6_000 },
      ],
    });
    expect(skipped[0]!.map((o) => [o.applied, o.version])).toEqual([
      [false, 4_000],
      [true, 2],
      [true, 9],
      [false, 6_000],
    ]);
    expect((await stack.l3.findMany(schema, [2, 3, 4])).map((r) => r.row.n).sort()).toEqual([1, 1, 2]);
  });

  it('an epoch guard below the epoch started is refused whole, nothing written; at or above it, written', async () => {
    const epoch = await stack.l3.nextEpoch(schema);
    for (const op of [
      { writes: [{ row: { id: 10, n: 1 } }] }, // one row (prepared where the driver can)
      { writes: [{ row: { id: 10, n: 1 } }, { row: { id: 11, n: 1 }, floor: 9 }] }, // one statement
      { writes: [{ row: { id: 10, n: 1 } }, { id: 11 }] }, // a transaction: a set and a delete
    ]) {
      const refused = await write({ ...op, epoch: epoch - 1 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(EpochMoved);
      expect((refused as EpochMoved).epoch).toBe(epoch);
      expect(await stack.l3.findMany(schema, [10, 11])).toEqual([]);
    }
    // Postgres-ordered (no floor): no lower than the latest epoch's first version, then stored + 1
    // (a write-through app that took the table from a write-behind one started that epoch).
    const base = epoch * EPOCH_SPAN;
    expect(await versions({ writes: [{ row: { id: 10, n: 1 } }], epoch })).toEqual([base]);
    expect(await versions({ writes: [{ row: { id: 10, n: 2 } }, { id: 11 }], epoch: epoch + 1 })).toEqual([
      base + 1,
      base,
    ]);
  });
});
