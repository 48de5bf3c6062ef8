import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// A Redis restored from an older snapshot, found by the read's own MGET (the app's tick comes back
// below one this instance saw), within the generation refresh: no generation read or write comes
// first to find it. The read must read once more, in the generation the reset moves to, and answer
// what Postgres holds, never the restored row. (The read path sends that MGET itself and hands the
// reply to `SchemaCache.tookRows`, which reads once more; see `sendRowRead`.)

let stack: EngineStack;
const clock = manualClock();

beforeAll(async () => {
  stack = await engineStack('read_finds_reset');
  await newStrata(playerSchema()).migrate();
});
afterAll(() => stack?.cleanup());

function playerSchema() {
  return defineSchema({ table: stack.tables.players, l1: false, l2: { ttl: '30m' } });
}

function newStrata(schema: ReturnType<typeof playerSchema>) {
  return new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, clock, schemas: [schema] });
}

describe('a read that finds Redis restored', () => {
  it('reads once more and answers what Postgres holds, never the restored row', async () => {
    const schema = playerSchema();
    const strata = newStrata(schema);
    const id = 'reset-read';
    await strata.set(schema, { id, username: `user-${id}`, level: 1 });
    // The "snapshot": the row's L2 value and the app's tick as they are now.
    const [rowKey, ...others] = await stack.redis.keys(`${stack.keyPrefix}:*:r:${id}`);
    expect(others).toEqual([]);
    const tickKey = `${stack.keyPrefix}:tick`;
    const v1 = await stack.redis.get(rowKey!);
    const tick = await stack.redis.get(tickKey);
    expect(v1).toContain('"level":1');
    expect((await strata.get(schema, id)).level).toBe(1);
    await strata.set(schema, { id, username: `user-${id}`, level: 2 });
    expect((await strata.get(schema, id)).level).toBe(2);
    // The restore: the row and the tick as the snapshot holds them (the clock stays where it is, so
    // the generation is not read again: only the get's own MGET sees the tick go back).
    await stack.redis.set(rowKey!, v1!, 'PX', 600_000);
    await stack.redis.set(tickKey, tick!);
    const before = strata.stats().errorsBy['l2-reset'] ?? 0;
    expect((await strata.get(schema, id)).level).toBe(2);
    expect(strata.stats().errorsBy['l2-reset'] ?? 0, 'the read found the reset').toBe(before + 1);
    expect((await strata.getMany(schema, [id]))[0]?.level).toBe(2);
    await strata.close();
  });
});
