import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryQueue, defineSchema, isStrataError, Strata } from '../src/index.js';
import { LAST_EPOCH } from '../src/l3/epoch-span.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Epochs are finite (131,071 below 2^53, l3/epoch-span.ts): a seed past the last one would hand out
// versions past 2^53, which lose precision and break two writes' order silently. It is refused
// (engine/epoch-limit.ts), and a table past 90 % of its epochs is warned about once.

let stack: EngineStack;
const behind = () => defineSchema({ table: stack.tables.players, writeMode: 'write-behind' });

beforeAll(async () => {
  stack = await engineStack('epoch_limit');
  await new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] }).migrate();
});
afterAll(() => stack?.cleanup());
beforeEach(() => stack.lapseClaims());

/** Sets the table's last epoch started (`_strata_versions`' epoch row, as `nextEpoch` keeps it). */
async function setLastEpoch(epoch: number): Promise<void> {
  await stack.pool.query(
    `insert into "${stack.name}"._strata_versions (schema, id, version, deleted) values ($1, '', $2, false)
     on conflict (schema, id) do update set version = excluded.version`,
    [behind().identity, epoch],
  );
}

/** An instance of app `suffix` logging and counting into arrays. */
function instance(suffix: string) {
  const logs: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const counted: { name: string; op?: string }[] = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    void logs.push({ level, message, ...(fields ? { fields } : {}) });
  const strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: `${stack.keyPrefix}${suffix}`,
    schemas: [behind()],
    writeBehind: { queue: createMemoryQueue() },
    logger: { debug() {}, info() {}, warn: log('warn'), error: log('error') },
    metrics: { count: (name, labels) => void counted.push({ name, op: labels.op }), observe() {} },
  });
  return { strata, logs, counted };
}

describe('the last epoch', () => {
  it('a seed past it is refused (typed, counted, logged), nothing written', async () => {
    await setLastEpoch(LAST_EPOCH);
    const { strata, logs, counted } = instance('x');
    const err = await strata.set(behind(), { id: 'a', username: 'u', level: 1 }).catch((e: unknown) => e);
    expect(isStrataError(err, 'L2_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toMatch(/every epoch/);
    expect((err as { details: Record<string, unknown> }).details).toMatchObject({
      reason: 'epochs-exhausted',
      epoch: LAST_EPOCH + 1,
    });
    expect((err as Error).cause).toBeInstanceOf(RangeError);
    expect(counted).toContainEqual({ name: 'error', op: 'epochs' });
    expect(logs.some((l) => l.level === 'error' && /every epoch/.test(l.message))).toBe(true);
    // Nothing written: no row in Redis, none queued.
    expect(isStrataError(await strata.get(behind(), 'a').catch((e: unknown) => e), 'NOT_FOUND')).toBe(true);
    expect(await strata.queueDepth()).toBe(0);
    await strata.close();
  });

  it('past 90 % of the epochs a seed is warned about, once per table', async () => {
    await setLastEpoch(Math.ceil(LAST_EPOCH * 0.9));
    const { strata, logs, counted } = instance('w');
    await strata.set(behind(), { id: 'b', username: 'u', level: 1 });
    // A second seed (its counter gone, as after a Redis reset): no second warning.
    const counters = (await stack.rawL2Keys()).filter(
      (k) => k.startsWith(`${stack.keyPrefix}w`) && k.endsWith(':ver'),
    );
    expect(counters.length).toBeGreaterThan(0);
    await stack.redis.del(...counters);
    await strata.set(behind(), { id: 'b', username: 'u', level: 2 });
    const warnings = logs.filter((l) => l.level === 'warn' && /90 %/.test(l.message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.fields).toMatchObject({ left: expect.any(Number) });
    expect(counted.filter((c) => c.name === 'epochsLow')).toHaveLength(1);
    expect((await strata.get(behind(), 'b'))?.level).toBe(2);
    await strata.close();
  });
});
