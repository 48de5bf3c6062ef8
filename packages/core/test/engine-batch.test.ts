import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../src/driver.js';
import { defineSchema, isStrataError, Strata } from '../src/index.js';
import { DRIVERS, type EngineStack, engineStack } from './support/stack.js';
import { signal, wrapL3 } from './support/wrap.js';

describe.each(DRIVERS)('setMany, deleteMany and transactions over %s', (driver) => {
  let stack: EngineStack;
  let strata: Strata;
  let players: ReturnType<typeof defineSchema<EngineStack['tables']['players']>>;
  let sessions: ReturnType<typeof defineSchema<EngineStack['tables']['sessions']>>;

  beforeAll(async () => {
    stack = await engineStack(`batch_${driver.replace('-', '_')}`, driver);
    players = defineSchema({ table: stack.tables.players });
    sessions = defineSchema({ table: stack.tables.sessions });
    strata = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      schemas: [players, sessions],
    });
    await strata.migrate();
  });
  afterAll(() => stack?.cleanup());

  it('setMany of 10,000 rows: chunked upserts in L3, one L2 request', async () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => ({
      id: `b${i}`,
      username: `bulk${i}`,
      level: i % 100,
    }));
    // An instance of its own, whose time does not pass (the generation is read again every 5 s of
    // its clock: a call a loaded machine slowed past that read it again), with an L2 deadline a
    // 10,000-row put meets under load: at 1 s it timed out at load ~35, L2 had missed a committed
    // write, and count's use of L2 moved the generation (`evalsha next-generation`, a 4th request).
    const bulk = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      schemas: [players],
      clock: manualClock(Date.now()),
      timeouts: { l2: '30s' },
    });
    stack.reset();
    const started = performance.now();
    const stored = await bulk.setMany(players, rows);
    const ms = performance.now() - started;
    console.info(
      `[${driver}] setMany 10,000 rows: ${Math.round(ms)} ms, ${Math.round(10_000 / (ms / 1000))} rows/s`,
    );
    expect(stored).toHaveLength(10_000);
    expect(await bulk.count(players)).toBeGreaterThanOrEqual(10_000);
    // One generation read and one pipelined write (rows + search generation); the instance's first
    // write also shares its writer claim with the app's other instances (one SET, off its path, so
    // in either order with the put).
    expect(bulk.stats().errorsBy, 'no L2 call failed').toEqual({});
    expect([...stack.l2Commands].sort()).toEqual([
      'evalsha generation',
      'evalsha put',
      'evalsha share-writer-claim',
    ]);
    const other = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [players] });
    stack.reset();
    expect((await other.getMany(players, ['b0', 'b5000', 'b9999'])).map((r) => r?.username)).toEqual([
      'bulk0',
      'bulk5000',
      'bulk9999',
    ]);
    expect(stack.statementsOn('players')).toHaveLength(0);
    // ~4 s idle; past the project's 20 s at load ~40 (10,000 rows through Postgres and one 1 MB put):
    // this catches a hang, not a slow machine.
  }, 60_000);

  it('getMany with ids repeated (a few, and many times over) answers every position from one read of each', async () => {
    await strata.setMany(players, [
      { id: 'dup1', username: 'one' },
      { id: 'dup2', username: 'two' },
    ]);
    // From L2 (another instance, empty L1): a copy is answered from its key's first position.
    const reader = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [players] });
    const few = ['dup1', 'dup2', 'dupX', 'dup1', 'dupX', 'dup2'];
    stack.reset();
    expect((await reader.getMany(players, few)).map((r) => r?.username ?? null)).toEqual(
      few.map((id) => (id === 'dup1' ? 'one' : id === 'dup2' ? 'two' : null)),
    );
    // One L3 query for the one id no cache holds, asked once.
    expect(stack.statementsOn('players')).toHaveLength(1);
    // Many copies (more than a scan is used for), from L1 and L2 mixed.
    const other = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [players] });
    await other.get(players, 'dup2');
    const many = Array.from({ length: 40 }, (_, i) => ['dup1', 'dup2', 'dupY'][i % 3]!);
    stack.reset();
    const rows = await other.getMany(players, many);
    expect(rows.map((r) => r?.username ?? null)).toEqual(
      many.map((id) => (id === 'dup1' ? 'one' : id === 'dup2' ? 'two' : null)),
    );
    expect(stack.statementsOn('players')).toHaveLength(1);
  });

  it('setMany takes a Map or a record keyed by id; a mismatched key is refused before any tier', async () => {
    await strata.setMany(players, new Map([['m1', { username: 'map1' }]]) as never);
    await strata.setMany(players, { r1: { id: 'r1', username: 'rec1' } });
    expect((await strata.get(players, 'm1')).username).toBe('map1');
    expect((await strata.get(players, 'r1')).username).toBe('rec1');
    const err = await strata
      .setMany(players, { r2: { id: 'other', username: 'x' } })
      .catch((e: unknown) => e);
    expect(isStrataError(err, 'VALIDATION_FAILED')).toBe(true);
    expect(await strata.find(players, 'other')).toBeNull();
  });

  it('deleteMany removes from every tier and counts what existed', async () => {
    await strata.setMany(players, [
      { id: 'd1', username: 'd1' },
      { id: 'd2', username: 'd2' },
    ]);
    expect(await strata.deleteMany(players, ['d1', 'd2', 'd3', 'd1'])).toBe(2);
    expect(await strata.getMany(players, ['d1', 'd2'])).toEqual([null, null]);
  });

  it('a transaction across schemas commits atomically; caches follow the commit', async () => {
    await strata.set(sessions, { id: 'old', userId: 'u' });
    await strata
      .tx()
      .set(players, { id: 't1', username: 'tx1', level: 99 })
      .set(sessions, { id: 'new', userId: 't1' })
      .delete(sessions, 'old')
      .commit();
    expect((await strata.get(players, 't1')).level).toBe(99);
    expect(await strata.find(sessions, 'old')).toBeNull();
    const other = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      schemas: [players, sessions],
    });
    expect((await other.get(sessions, 'new')).userId).toBe('t1');
  });

  it('a transaction that fails half-way leaves L1, L2 and L3 exactly as they were', async () => {
    await strata.set(players, { id: 'keep', username: 'taken', level: 1 });
    await strata.set(players, { id: 't2', username: 'tx2', level: 2 });
    const l2Before = (await stack.rawL2Keys()).sort();
    const { l1Entries: l1Before, errors: errorsBefore, rejected: rejectedBefore } = strata.stats();
    const err = await strata
      .tx()
      .set(players, { id: 't2', username: 'tx2', level: 3 })
      .set(sessions, { id: 'half', userId: 'x' })
      .set(players, { id: 't3', username: 'taken' }) // unique violation: the whole transaction rolls back
      .commit()
      .catch((e: unknown) => e);
    expect(isStrataError(err, 'TX_FAILED')).toBe(true);
    expect((err as { details: { sqlstate: string } }).details.sqlstate).toBe('23505');
    expect(strata.stats()).toMatchObject({ errors: errorsBefore, rejected: rejectedBefore + 1 });
    expect((await strata.get(players, 't2')).level).toBe(2);
    expect(await strata.find(sessions, 'half')).toBeNull();
    expect(await strata.find(players, 't3')).toBeNull();
    expect(strata.stats().l1Entries).toBe(l1Before);
    expect((await stack.rawL2Keys()).sort()).toEqual(l2Before);
    const fresh = new Strata({ l3: stack.l3, schemas: [players, sessions] });
    expect((await fresh.get(players, 't2')).level).toBe(2);
    expect(await fresh.find(sessions, 'half')).toBeNull();
  });

  it('TX_FAILED wraps a validation error before anything is sent; TX_TIMEOUT past the deadline', async () => {
    stack.reset();
    const invalid = await strata
      .tx()
      .set(players, { id: 'v', username: 5 } as never)
      .commit()
      .catch((e: unknown) => e);
    expect(isStrataError(invalid, 'TX_FAILED')).toBe(true);
    expect(isStrataError((invalid as Error).cause, 'VALIDATION_FAILED')).toBe(true);
    expect(stack.statements).toHaveLength(0);

    const gate = signal();
    let late: Promise<unknown> | undefined;
    const slow = wrapL3(stack.l3, {
      write: (ops) => {
        const work = gate.promise.then(() => stack.l3.write(ops));
        late = work;
        return work;
      },
    });
    const slowStrata = new Strata({ l2: stack.l2, l3: slow, keyPrefix: stack.keyPrefix, schemas: [players] });
    const timedOut = await slowStrata
      .tx()
      .set(players, { id: 'late', username: 'late' })
      .commit({ timeout: '50ms' })
      .catch((e: unknown) => e);
    expect(isStrataError(timedOut, 'TX_TIMEOUT')).toBe(true);
    // The transaction then commits after all: no cache may still claim the row is absent.
    gate.resolve();
    await late;
    expect((await slowStrata.get(players, 'late')).username).toBe('late');
  });
});
