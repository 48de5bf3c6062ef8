import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, isStrataError, type L3Tier, Strata, type WriteMode } from '../src/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { signal, wrapL3 } from './support/wrap.js';

// Writes of one key made by one instance take effect in call order, whatever each one spends before
// reaching a tier (a beforeSet hook, validation; a delete has no row to prepare). Fire-and-forget
// calls are where this shows: `set(x); delete(x)` must end with no row, everywhere.

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('call_order');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(() => stack?.cleanup());

/** A beforeSet hook that holds the writes of the usernames in `held` until they are let go. */
function holdingHook() {
  const held = new Map<string, ReturnType<typeof signal>>();
  const entered: string[] = [];
  return {
    held,
    entered,
    hold: (username: string) => held.set(username, signal()),
    beforeSet: async (row: Record<string, unknown>) => {
      entered.push(String(row.username));
      await held.get(String(row.username))?.promise;
    },
  };
}

async function inPostgres(id: string) {
  const [row] = await stack.db.select().from(stack.tables.players).where(eq(stack.tables.players.id, id));
  return row;
}

describe.each<WriteMode>(['write-through', 'write-behind'])('%s', (writeMode) => {
  function app(hook = holdingHook(), l3: L3Tier = stack.l3) {
    const schema = defineSchema({
      table: stack.tables.players,
      writeMode,
      hooks: { beforeSet: hook.beforeSet },
    });
    const strata = new Strata({
      l2: stack.l2,
      l3,
      keyPrefix: stack.keyPrefix,
      schemas: [schema],
      ...(writeMode === 'write-behind' && { writeBehind: { queue: createMemoryQueue() } }),
    });
    return { schema, strata, hook };
  }

  /** What every tier says of `id` once the writes landed: this instance, a fresh one, Postgres. */
  async function everywhere(strata: Strata, schema: ReturnType<typeof app>['schema'], id: string) {
    await strata.flushDirty();
    const fresh = app();
    return {
      here: (await strata.find(schema, id))?.username ?? null,
      elsewhere: (await fresh.strata.find(fresh.schema, id))?.username ?? null,
      postgres: (await inPostgres(id))?.username ?? null,
    };
  }

  it('set then delete, neither awaited: the row is gone from every tier', async () => {
    const { schema, strata } = app();
    const id = `${writeMode}-sd`;
    await strata.set(schema, { id, username: `${id}-before` });
    const set = strata.set(schema, { id, username: `${id}-new` });
    const removed = strata.delete(schema, id);
    await Promise.all([set, removed]);
    expect(await everywhere(strata, schema, id)).toEqual({ here: null, elsewhere: null, postgres: null });
  });

  it('a set held in its beforeSet hook keeps its place: the later set, delete and transaction wait', async () => {
    const { schema, strata, hook } = app();
    const id = `${writeMode}-held`;
    const first = hook.hold(`${id}-1`).get(`${id}-1`)!;
    const one = strata.set(schema, { id, username: `${id}-1` });
    const two = strata.set(schema, { id, username: `${id}-2` });
    // Another key does not wait for the held one (no head-of-line blocking across keys).
    await strata.set(schema, { id: `${id}-other`, username: `${id}-other` });
    expect(await inPostgres(id)).toBeUndefined();
    expect(strata.peek(schema, id)).toBeUndefined();
    first.resolve();
    await Promise.all([one, two]);
    expect(await everywhere(strata, schema, id)).toEqual({
      here: `${id}-2`,
      elsewhere: `${id}-2`,
      postgres: `${id}-2`,
    });

    // A delete, then a transaction, called while a set is held: they follow it, in call order.
    hook.hold(`${id}-3`);
    const three = strata.set(schema, { id, username: `${id}-3` });
    const removed = strata.delete(schema, id);
    const tx = strata
      .tx()
      .set(schema, { id, username: `${id}-4` })
      .commit();
    hook.held.get(`${id}-3`)!.resolve();
    await Promise.all([three, removed, tx]);
    expect(await everywhere(strata, schema, id)).toEqual({
      here: `${id}-4`,
      elsewhere: `${id}-4`,
      postgres: `${id}-4`,
    });
  });

  it('any calls, any order of their hooks finishing: each key ends on its last call, in every tier (model run)', async () => {
    const { schema, strata, hook } = app();
    let run = 0;
    const call = fc.record({ key: fc.integer({ min: 0, max: 2 }), del: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(
        fc.array(call, { minLength: 1, maxLength: 12 }),
        fc.infiniteStream(fc.nat()),
        async (calls, picks) => {
          run += 1;
          const id = (k: number) => `${writeMode}-model-${run}-${k}`;
          const last = new Map<number, string | null>();
          const writes = calls.map(({ key, del }, i) => {
            const username = `${id(key)}-${i}`;
            last.set(key, del ? null : username);
            if (del) return strata.delete(schema, id(key));
            hook.hold(username);
            return strata.set(schema, { id: id(key), username });
          });
          // Let the held hooks go in an order of fast-check's choosing.
          const waiting = [...hook.held.keys()].filter((u) => u.startsWith(`${writeMode}-model-${run}-`));
          const order = [...waiting];
          const it = picks[Symbol.iterator]();
          for (let i = order.length - 1; i > 0; i--) {
            const j = it.next().value % (i + 1);
            [order[i], order[j]] = [order[j]!, order[i]!];
          }
          for (const username of order) hook.held.get(username)!.resolve();
          await Promise.all(writes);
          for (const [key, username] of last) {
            expect(await everywhere(strata, schema, id(key))).toEqual({
              here: username,
              elsewhere: username,
              postgres: username,
            });
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a write refused in its preparation lets the next one go; setMany and deleteMany keep their place', async () => {
    const { schema, strata, hook } = app();
    const id = `${writeMode}-refused`;
    hook.hold(`${id}-bad`);
    // Refused by validation after its hook: level must be an integer.
    const bad = strata.set(schema, { id, username: `${id}-bad`, level: 'high' as never });
    const many = strata.setMany(schema, [
      { id, username: `${id}-many` },
      { id: `${id}-b`, username: `${id}-b` },
    ]);
    const gone = strata.deleteMany(schema, [`${id}-b`]);
    hook.held.get(`${id}-bad`)!.resolve();
    const error = await bad.catch((e: unknown) => e);
    expect(isStrataError(error, 'VALIDATION_FAILED')).toBe(true);
    await Promise.all([many, gone]);
    expect(await everywhere(strata, schema, id)).toMatchObject({
      here: `${id}-many`,
      postgres: `${id}-many`,
    });
    expect(await everywhere(strata, schema, `${id}-b`)).toEqual({
      here: null,
      elsewhere: null,
      postgres: null,
    });
  });
});

describe('write-through', () => {
  it('a later write of a key is not sent to Postgres before the earlier one answered', async () => {
    const gate = signal();
    const sent: string[] = [];
    let holdNext = true;
    const l3 = wrapL3(stack.l3, {
      write: async (ops) => {
        const names = ops.flatMap((op) =>
          op.writes.map((w) => ('row' in w && w.row ? String(w.row.username) : 'delete')),
        );
        sent.push(...names);
        if (holdNext) {
          holdNext = false;
          await gate.promise;
        }
        return stack.l3.write(ops);
      },
    });
    const schema = defineSchema({ table: stack.tables.players });
    const strata = new Strata({ l2: stack.l2, l3, keyPrefix: stack.keyPrefix, schemas: [schema] });
    const first = strata.set(schema, { id: 'pool-1', username: 'pool-first' });
    const second = strata.set(schema, { id: 'pool-1', username: 'pool-second' });
    const other = strata.set(schema, { id: 'pool-2', username: 'pool-other' });
    await other;
    // The held write went; the second write of its key did not, the other key's did.
    expect(sent).toEqual(['pool-first', 'pool-other']);
    gate.resolve();
    await Promise.all([first, second]);
    expect(sent).toEqual(['pool-first', 'pool-other', 'pool-second']);
    expect((await inPostgres('pool-1'))?.username).toBe('pool-second');
    expect((await strata.get(schema, 'pool-1')).username).toBe('pool-second');
  });
});
