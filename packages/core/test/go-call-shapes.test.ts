import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineSchema, isStrataError, Q, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

/**
 * Calls written as the Go library's (`ds.Set(ctx, "players", "p1", player)`, `Where("level > ?")`)
 * are refused with a typed error that says what to write instead, and touch no tier.
 */
let stack: EngineStack;
let strata: Strata;
let players: ReturnType<typeof schemaOf>;
const schemaOf = () => defineSchema({ table: stack.tables.players });

async function refusal(
  attempt: () => Promise<unknown>,
): Promise<{ code?: string; message: string; cause?: string }> {
  try {
    await attempt();
  } catch (err) {
    if (!isStrataError(err)) throw err;
    return { code: err.code, message: err.message, cause: (err.cause as Error | undefined)?.message };
  }
  throw new Error('resolved');
}

async function rowsOf(id: string): Promise<number> {
  const { rows } = await stack.pool.query(
    `select count(*)::int as n from "${stack.name}".players where id = $1`,
    [id],
  );
  return rows[0].n as number;
}

beforeAll(async () => {
  stack = await engineStack('go_call_shapes');
  players = schemaOf();
  strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [players],
    logger: false,
  });
  await strata.migrate();
});
afterAll(async () => {
  await strata?.close();
  await stack?.cleanup();
});

it("set(schema, id, row), Go's Set(name, id, value), says the row goes alone and writes nothing", async () => {
  const go = strata.set.bind(strata) as unknown as (
    schema: unknown,
    id: string,
    row: unknown,
  ) => Promise<unknown>;
  const keysBefore = await stack.rawL2Keys();
  const refused = await refusal(() => go(players, 'p9', { id: 'p9', username: 'nine' }));
  expect(refused.code).toBe('VALIDATION_FAILED');
  expect(refused.message).toBe(
    'strata: schema players: a row must be an object, not a string: set(schema, row) takes the row alone, its primary key (id) names it',
  );
  expect(await rowsOf('p9')).toBe(0);
  expect(await stack.rawL2Keys()).toEqual(keysBefore);
  // The same in a transaction: TX_FAILED, the cause says it.
  const tx = strata.tx() as unknown as {
    set: (schema: unknown, id: string, row: unknown) => { commit(): Promise<void> };
  };
  const inTx = await refusal(() => tx.set(players, 'p9', { id: 'p9', username: 'nine' }).commit());
  expect(inTx.code).toBe('TX_FAILED');
  expect(inTx.cause).toMatch(/set\(schema, row\) takes the row alone/);
  expect(await rowsOf('p9')).toBe(0);
});

it('a where with ? placeholders is INVALID_QUERY saying to write $1, and runs no SQL', async () => {
  stack.reset();
  const refused = await refusal(() => strata.search(players, Q().where('level > ?', 10).build()));
  expect(refused.code).toBe('INVALID_QUERY');
  expect(refused.message).toMatch(/write \$1, \$2, … for the arguments, not \?/);
  expect(stack.statementsOn('players')).toEqual([]);
});
