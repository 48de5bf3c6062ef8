import { eq } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, Q, Strata } from '../src/index.js';
import type { L2Script, L2Tier } from '../src/l2/types.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';

/*
 * Two instances set different columns of one write-behind key at once: A reads the key's row to
 * merge over, then B's set lands, then A writes. A's write must find the key moved (its L2 version
 * is not the one A merged over), merge again over B's, and so keep both columns, before the flush
 * (what a third instance reads) and after it (Postgres). The interleaving is fixed by a gate on A's
 * L2 (its script held until B is acknowledged), not by timing. Likewise a partial set landing
 * between a transaction's Postgres commit and its L2 write: it queues only its own columns, so the
 * flush keeps the transaction's. Also counts the L2 scripts a whole
 * row and a mix of whole and partial rows cost.
 */
let stack: EngineStack;
let schema: ReturnType<typeof behind>;
const itemsTable = (name: string) =>
  pgSchema(name).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull().default(0),
    note: text('note'),
    extra: text('extra'),
  });
let items: ReturnType<typeof itemsTable>;
const behind = () => defineSchema({ table: items, writeMode: 'write-behind' });
const open: Strata[] = [];

/** The stack's L2, counting the scripts it runs by name, and holding the next one named `held`. */
function gatedL2() {
  const runs: string[] = [];
  let gate: { name: string; reached: () => void; release: Promise<void> } | undefined;
  const tier: L2Tier = {
    name: stack.l2.name,
    getMany: (keys) => stack.l2.getMany(keys),
    close: async () => {},
    async run(script: L2Script, keys, args) {
      runs.push(script.name === 'pending' ? `pending:${args[0]}` : script.name);
      if (gate && script.name === gate.name) {
        const held = gate;
        gate = undefined;
        held.reached();
        await held.release;
      }
      return stack.l2.run(script, keys, args);
    },
  };
  return {
    tier,
    runs,
    /** Holds the next run of `name`; resolves once it is held, with the function that lets it go. */
    hold(name: string): Promise<() => void> {
      let release!: () => void;
      const released = new Promise<void>((r) => {
        release = r;
      });
      return new Promise((reached) => {
        gate = { name, reached: () => reached(release), release: released };
      });
    },
  };
}

function instance(l2: L2Tier = stack.l2): Strata {
  const strata = new Strata({
    l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [schema],
    writeBehind: { queue: createMemoryQueue() },
  });
  open.push(strata);
  return strata;
}

/** The row as an instance that has cached nothing reads it (get and search). */
async function readFresh(id: string) {
  const reader = instance();
  const view = (r: Record<string, unknown> | null) => r && { id: r.id, n: r.n, note: r.note, extra: r.extra };
  return {
    get: view(await reader.get(schema, id)),
    search: (await reader.search(schema, Q().where('id = $1', id).build())).map(view),
  };
}

beforeAll(async () => {
  stack = await engineStack('wb_partial_race');
  items = itemsTable(stack.name);
  schema = behind();
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: items })] }).migrate();
});
afterAll(async () => {
  for (const s of open) await s.close();
  await stack?.cleanup();
});

describe('partial write-behind sets of one key from two instances at once', () => {
  it('both columns survive, before and after the flush', async () => {
    const setup = instance();
    await setup.set(schema, { id: 'r1', n: 1, note: 'n0', extra: 'e0' });
    await setup.flushDirty();
    const gated = gatedL2();
    const a = instance(gated.tier);
    const b = instance();
    const held = gated.hold('ordered-put'); // a memory queue: the two-request path
    const aSet = a.set(schema, { id: 'r1', note: 'from a' });
    const release = await held;
    await b.set(schema, { id: 'r1', extra: 'from b' }); // lands between A's read and A's write
    release();
    await aSet;
    const want = { id: 'r1', n: 1, note: 'from a', extra: 'from b' };
    expect(await readFresh('r1')).toEqual({ get: want, search: [want] });
    // A merged twice: its first write found the key moved.
    expect(gated.runs.filter((r) => r === 'pending:peek')).toHaveLength(2);
    await a.flushDirty();
    await b.flushDirty();
    const [row] = await stack.db.select().from(items).where(eq(items.id, 'r1'));
    expect(row).toEqual(want);
    expect(await readFresh('r1')).toEqual({ get: want, search: [want] });
  });

  it('a transaction writing a key partially while another instance sets it keeps both columns', async () => {
    const setup = instance();
    await setup.set(schema, { id: 'r2', n: 1, note: 'n0', extra: 'e0' });
    await setup.flushDirty();
    await setup.set(schema, { id: 'r2', n: 2 }); // queued: the transaction merges over it
    const gated = gatedL2();
    const a = instance(gated.tier);
    const b = instance();
    const held = gated.hold('reserve');
    const commit = a.tx().set(schema, { id: 'r2', note: 'from tx' }).commit();
    const release = await held;
    await b.set(schema, { id: 'r2', extra: 'from b' }); // lands between the merge and the reserve
    release();
    await commit;
    // The transaction's reserve found the key moved: it merged again, over B's write.
    expect(gated.runs.filter((r) => r === 'pending:peek')).toHaveLength(2);
    const want = { id: 'r2', n: 2, note: 'from tx', extra: 'from b' };
    await setup.flushDirty();
    await b.flushDirty();
    const [row] = await stack.db.select().from(items).where(eq(items.id, 'r2'));
    expect(row).toEqual(want);
    expect(await readFresh('r2')).toEqual({ get: want, search: [want] });
  });
  it("a partial set that reads a key between a transaction's commit and its L2 write leaves the transaction's columns in Postgres", async () => {
    const setup = instance();
    await setup.set(schema, { id: 'r3', n: 1, note: 'n0', extra: 'e0' });
    await setup.flushDirty(); // nothing queued: B merges over this L2 copy
    const gated = gatedL2();
    const a = instance(gated.tier);
    const b = instance();
    const held = gated.hold('put'); // the transaction's commit into L2, after Postgres's
    const commit = a.tx().set(schema, { id: 'r3', note: 'from tx' }).commit();
    const release = await held;
    await b.set(schema, { id: 'r3', extra: 'from b' }); // queues `extra` only, not the old `note`
    release();
    await commit;
    await b.flushDirty();
    const want = { id: 'r3', n: 1, note: 'from tx', extra: 'from b' };
    const [row] = await stack.db.select().from(items).where(eq(items.id, 'r3'));
    expect(row).toEqual(want);
    expect(await readFresh('r3')).toEqual({ get: want, search: [want] });
  });
});

describe('what partial rows cost', () => {
  it('a whole row reads nothing first; a batch of whole and partial rows one L2 read and one query; a cached key none', async () => {
    const gated = gatedL2();
    const a = instance(gated.tier);
    await a.setMany(
      schema,
      Array.from({ length: 10 }, (_, i) => ({ id: `c${i}`, n: i, note: 'x', extra: 'y' })),
    );
    await a.flushDirty();
    gated.runs.length = 0;
    await a.set(schema, { id: 'c0', n: 5, note: 'whole', extra: 'row' });
    expect(gated.runs).toEqual(['ordered-put']);
    for (const size of [4, 20]) {
      gated.runs.length = 0;
      const before = stack.statementsOn('items').length;
      await a.setMany(schema, [
        ...Array.from({ length: size }, (_, i) => ({ id: `c${i % 10}`, n: 7, note: 'w', extra: 'w' })),
        ...Array.from({ length: size }, (_, i) => ({ id: `d${i}`, note: 'partial' })),
      ]);
      expect(gated.runs).toEqual(['pending:peek', 'ordered-put']);
      // One findMany for the partial keys with nothing queued, whatever their number.
      expect(stack.statementsOn('items').length - before).toBe(1);
    }
    expect((await readFresh('d3')).get).toEqual({ id: 'd3', n: 0, note: 'partial', extra: null });
    await a.flushDirty();
    expect((await readFresh('d3')).get).toEqual({ id: 'd3', n: 0, note: 'partial', extra: null });
    // Flushed: L2 holds a fresh copy of the row, which stands for Postgres's (no query).
    gated.runs.length = 0;
    const before = stack.statementsOn('items').length;
    await a.set(schema, { id: 'd3', extra: 'copy' });
    expect(gated.runs).toEqual(['pending:peek', 'ordered-put']);
    expect(stack.statementsOn('items').length - before).toBe(0);
    const want = { id: 'd3', n: 0, note: 'partial', extra: 'copy' };
    expect(await readFresh('d3')).toEqual({ get: want, search: [want] });
    await a.flushDirty();
    expect(await readFresh('d3')).toEqual({ get: want, search: [want] });
  });
});
