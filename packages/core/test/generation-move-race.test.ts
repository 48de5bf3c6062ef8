import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { signal, wrapL2Run } from './support/wrap.js';

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('gen_move_race');
});
afterAll(() => stack?.cleanup());

/**
 * The real L2 with its generation moves held at the gate until `open()`: a move sent over HTTP that
 * Redis runs after a generation read sent later (two requests, two connections).
 */
function heldMoves() {
  const gate = signal();
  let held = 0;
  const reads: Promise<unknown>[] = [];
  const l2 = wrapL2Run(stack.l2, async (script, _keys, run) => {
    if (script.name === 'next-generation') {
      held++;
      await gate.promise;
    }
    const reply = run();
    if (script.name === 'generation') reads.push(reply.catch(() => {}));
    return reply;
  });
  return { l2, open: gate.resolve, held: () => held, reads };
}

describe('a generation move and a read that overtakes it', () => {
  it('a read while invalidateAll moves the generation shares the move: once it is done, no read serves a row cached before it', async () => {
    const schema = defineSchema({ table: stack.tables.players, l1: false });
    const moves = heldMoves();
    const strata = new Strata({
      l2: moves.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}mv`,
      schemas: [schema],
      timeouts: { l2: '300ms' },
    });
    await strata.migrate();
    await strata.set(schema, { id: 'mv1', username: 'before' });
    expect((await strata.get(schema, 'mv1'))?.username).toBe('before'); // an L2 hit
    // Postgres changes behind the cache: only invalidateAll makes this instance see it.
    await stack.db
      .update(stack.tables.players)
      .set({ username: 'after' })
      .where(eq(stack.tables.players.id, 'mv1'));

    // The last generation read was sent longer ago than a share of it lasts (200 ms for the
    // identity + timeouts.l2): what a read meanwhile shares is the move's own send time.
    await new Promise((r) => setTimeout(r, 600));
    const reads = moves.reads.length;
    const invalidated = strata.invalidateAll(schema);
    await expect.poll(moves.held).toBe(1);
    // A read while the move is out (concurrent with invalidateAll: either row would do). A
    // generation read of its own would reach Redis, and be answered, before the move: it kept the
    // old generation for 5 s ('before' below).
    const during = strata.get(schema, 'mv1');
    await new Promise((r) => setImmediate(r));
    await Promise.all(moves.reads.slice(reads));
    expect(moves.reads.length - reads).toBe(0);
    moves.open();
    await invalidated;
    await during;

    expect((await strata.get(schema, 'mv1'))?.username).toBe('after');
    await strata.close();
  });
});
