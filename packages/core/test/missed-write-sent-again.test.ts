import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, type L2Tier, Strata } from '../src/index.js';
import { GENERATION_ERA } from '../src/l2/envelope.js';
import { type EngineStack, engineStack } from './support/stack.js';

// A committed write L2 missed (it did not answer) is sent again before the writer's next use of
// L2, as superseded markers at its versions (late: a newer copy may have come and gone meanwhile,
// regression-resend-late-marker), and only if L2 refuses it then does the generation move on (hard:
// every cached row of the schema orphaned). On the real tiers (Upstash REST over Redis, node-postgres), one bucket (the
// default); four buckets: engine-buckets-missed-writes.test.ts.

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('missed_again');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(() => stack?.cleanup());

/** The real L2, refusing every call while `down.current` (as an unreachable Redis would). */
function switchable(down: { current: boolean }): L2Tier {
  const fail = () => Promise.reject(new Error('L2 unreachable (injected)'));
  return {
    name: stack.l2.name,
    getMany: (keys) => (down.current ? fail() : stack.l2.getMany(keys)),
    run: (script, keys, args, sendBy) => (down.current ? fail() : stack.l2.run(script, keys, args, sendBy)),
    close: () => stack.l2.close(),
  };
}

const plain = () => defineSchema({ table: stack.tables.players, l1: false });
const rows = (p: string, ids: readonly string[], level: number) =>
  ids.map((id) => ({ id, username: `${p}-${id}`, level }));

async function generation(p: string, s: ReturnType<typeof plain>): Promise<number> {
  return Number(await stack.redis.get(`${p}:${s.identity}:gen`));
}

describe('a committed write L2 missed', () => {
  it('is sent again once L2 answers (reads meanwhile go to Postgres); no generation moves, every other row stays an L2 hit', async () => {
    const p = `${stack.keyPrefix}a`;
    const s = plain();
    const down = { current: false };
    const writer = new Strata({ l2: switchable(down), l3: stack.l3, keyPrefix: p, schemas: [s] });
    const ids = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'];
    await writer.setMany(s, rows(p, ids, 1));
    const before = await generation(p, s);

    down.current = true;
    await writer.set(s, { id: 'm0', username: `${p}-m0`, level: 2 });
    const errors = writer.stats().errorsBy.l2 ?? 0;
    expect(errors).toBeGreaterThanOrEqual(1);
    // Still down: the read answers from Postgres; the write waits to be sent again.
    expect((await writer.get(s, 'm0')).level).toBe(2);
    expect(await generation(p, s)).toBe(before);
    const stale = await stack.redis.get(`${p}:${s.identity}:${s.fingerprint}-json:r:m0`);
    expect(stale).toContain(';1;'); // version 1 (level 1) still in L2

    down.current = false;
    stack.reset();
    const read = await writer.getMany(s, ids);
    expect(read.map((r) => r?.level)).toStrictEqual([2, 1, 1, 1, 1, 1]);
    expect(await generation(p, s)).toBe(before);
    // The sent-again key alone was read from Postgres (its marker), and filled back.
    expect(stack.statementsOn('players')).toHaveLength(1);
    stack.reset();
    // A fresh instance: every row from L2, the sent-again write included; no Postgres read.
    const other = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: p, schemas: [s] });
    expect((await other.getMany(s, ids)).map((r) => r?.level)).toStrictEqual([2, 1, 1, 1, 1, 1]);
    expect(other.stats().hits.l2).toBe(ids.length);
    expect(stack.statementsOn('players')).toHaveLength(0);
    await Promise.all([writer.close(), other.close()]);
  });

  it('refused again while the generation read answers: the generation moves to a new era', async () => {
    const p = `${stack.keyPrefix}b`;
    const s = plain();
    const putDown = { current: false };
    const l2: L2Tier = {
      ...switchable({ current: false }),
      run: (script, keys, args, sendBy) =>
        putDown.current && (script.name === 'put' || script.name === 'mark')
          ? Promise.reject(new Error('PUT and MARK refused (injected)'))
          : stack.l2.run(script, keys, args, sendBy),
    };
    const writer = new Strata({ l2, l3: stack.l3, keyPrefix: p, schemas: [s] });
    await writer.setMany(s, rows(p, ['r0', 'r1'], 1));
    putDown.current = true;
    await writer.set(s, { id: 'r0', username: `${p}-r0`, level: 2 });
    const errors = writer.stats().errorsBy.l2 ?? 0;
    expect((await writer.get(s, 'r0')).level).toBe(2);
    putDown.current = false;
    expect(writer.stats().errorsBy.l2 ?? 0).toBeGreaterThan(errors); // the second try, counted
    expect(await generation(p, s)).toBeGreaterThanOrEqual(GENERATION_ERA);
    const other = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: p, schemas: [s] });
    expect((await other.get(s, 'r0')).level).toBe(2);
    await Promise.all([writer.close(), other.close()]);
  });

  it('past 1,000 rows of missed writes, the generation moves on instead (they are not kept)', async () => {
    const p = `${stack.keyPrefix}c`;
    const s = plain();
    const down = { current: false };
    const writer = new Strata({ l2: switchable(down), l3: stack.l3, keyPrefix: p, schemas: [s] });
    const ids = Array.from({ length: 1_001 }, (_, i) => `c${i}`);
    await writer.set(s, { id: 'c0', username: `${p}-c0`, level: 1 });
    down.current = true;
    await writer.setMany(s, rows(p, ids, 2));
    down.current = false;
    expect((await writer.get(s, 'c0')).level).toBe(2);
    expect(await generation(p, s)).toBeGreaterThanOrEqual(GENERATION_ERA);
    await writer.close();
  });

  it('close() sends it again when L2 answers, with no other call', async () => {
    const p = `${stack.keyPrefix}d`;
    const s = plain();
    const down = { current: false };
    const writer = new Strata({ l2: switchable(down), l3: stack.l3, keyPrefix: p, schemas: [s] });
    await writer.set(s, { id: 'd0', username: `${p}-d0`, level: 1 });
    const before = await generation(p, s);
    down.current = true;
    await writer.set(s, { id: 'd0', username: `${p}-d0`, level: 2 });
    down.current = false;
    await writer.close();
    expect(await generation(p, s)).toBe(before);
    const other = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: p, schemas: [s] });
    // Its marker, not the level 1 copy: read from Postgres.
    expect((await other.get(s, 'd0')).level).toBe(2);
    expect(other.stats().hits).toMatchObject({ l2: 0, l3: 1 });
    await other.close();
  });
});
