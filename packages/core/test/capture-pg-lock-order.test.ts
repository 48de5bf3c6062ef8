import { afterAll, beforeAll, expect, it } from 'vitest';
import { defineSchema, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// An outside statement holds its rows' locks before its capture trigger runs; a Strata writer locks
// a key's version row before its row. The two on one key at once deadlocked (Postgres failed one of
// them after deadlock_timeout): the trigger now waits at most 50 ms for a version row and logs the
// key unbumped, one version ahead, instead. Here the writer's first half is held open by hand.
let stack: EngineStack;
let strata: Strata;
let players: ReturnType<typeof playersSchema>;
const playersSchema = () => defineSchema({ table: stack.tables.players });

beforeAll(async () => {
  stack = await engineStack('capture_lock_order');
  players = playersSchema();
  strata = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [players] });
  await strata.migrate({ capture: true });
});
afterAll(async () => {
  await strata?.close();
  await stack?.cleanup();
});

it('an outside update of a key whose version row a writer holds logs it one version ahead, without waiting for the writer', async () => {
  await strata.set(players, { id: 'lk1', username: 'lk1', level: 1 });
  const versions = `"${stack.name}"."_strata_versions"`;
  const writer = await stack.pool.connect();
  try {
    // A Strata writer between its two steps: the key's version row locked, its row not yet.
    await writer.query('begin');
    await writer.query(`update ${versions} set version = version + 1 where schema = $1 and id = 'lk1'`, [
      players.identity,
    ]);
    const cursor = await stack.l3.capture!.source().start();
    const started = performance.now();
    await stack.pool.query(`update "${stack.name}"."players" set level = 7 where id = 'lk1'`);
    const waitedMs = performance.now() - started;
    // Without the bound it would wait for the writer's commit, which never comes before it returns.
    expect(waitedMs).toBeLessThan(1_000);
    const page = await stack.l3.capture!.source().read(cursor);
    expect(page.changes.filter((c) => c.ids?.includes('lk1'))).toEqual([
      { schema: players.identity, op: 'update', ids: ['lk1'], versions: [2] }, // 1, the committed one, plus one
    ]);
    await writer.query('rollback');
  } finally {
    writer.release();
  }
  // The version row was not bumped by the trigger (it logged instead); the row holds the outside value.
  const { rows } = await stack.pool.query(
    `select version::int as v from ${versions} where schema = $1 and id = 'lk1'`,
    [players.identity],
  );
  expect(rows).toEqual([{ v: 1 }]);
});

it('a Strata set and an outside update of one key at once both succeed, whoever commits last', async () => {
  for (let i = 0; i < 20; i++) {
    const id = `race${i}`;
    await strata.set(players, { id, username: id, level: 1 });
    const results = await Promise.allSettled([
      strata.set(players, { id, username: id, level: 100 + i }),
      stack.pool.query(`update "${stack.name}"."players" set level = $2 where id = $1`, [id, 200 + i]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
  }
});
