import { createMemoryQueue, isStrataError, type L3Tier, Q, type Strata } from '@strata/core';
import { reencrypt } from '@strata/core/admin';
import { decodeEnvelope } from '@strata/core/driver';
import { strataRejection } from '@strata/core/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { record } from '../support/ledger.js';
import { type TierStack, testKey, tierStack } from '../support/stack-tiers.js';

const K1 = testKey(1);
const K2 = testKey(2);
const OLD = { keys: { k1: K1 }, current: 'k1' };
const ROTATED = { keys: { k1: K1, k2: K2 }, current: 'k2' };
const NEW_ONLY = { keys: { k2: K2 }, current: 'k2' };
/** Rotation's first step on every instance: k2 known (decrypt-only), k1 still current. */
const STAGED = { keys: { k1: K1, k2: K2 }, current: 'k1' };
const ROWS = 30;

const emailOf = (i: number) => `user${i}@rotation.example`;

/** Key rotation: old rows keep reading under a keyring; `reencrypt` moves them to the current key. */
describe('key rotation', () => {
  let stack: TierStack;
  const opened: Strata[] = [];
  const tally = { operations: 0, writesAcknowledged: 0, writesFound: 0, inputsTried: 0 };
  const open = (...args: Parameters<TierStack['strata']>) => {
    const s = stack.strata(...args);
    opened.push(s);
    return s;
  };

  beforeAll(async () => {
    stack = await tierStack('key_rotation');
  });
  beforeEach(async () => {
    await stack.pool.query(`truncate "${stack.name}"."accounts"`);
  });
  afterAll(async () => {
    await Promise.allSettled(opened.map((s) => s.close()));
    await stack?.cleanup();
    record({ category: 'key-rotation', scenario: 'k1 -> k2 with reencrypt', ...tally, hangs: 0 });
  });

  const l3Emails = async () =>
    (await stack.l3Snapshot()).map((r) => [r.id as string, r.email as string | null] as const);
  /** Row values L2 serves now: of the table's current generation (older ones are invalidated, never read). */
  const l2RowValues = async (_schemaName: string) => {
    const base = `${stack.name}:${stack.name}.accounts`;
    const generation = Number((await stack.redis.get(`${base}:gen`)) ?? 0);
    return Object.entries(await stack.l2Snapshot()).filter(([k, v]) => {
      const e = typeof v === 'string' ? decodeEnvelope(v) : undefined;
      return k.startsWith(`${base}:`) && k.includes(':r:') && e !== undefined && e.generation >= generation;
    });
  };

  it('rows written under k1 read after rotation, are moved to k2 by reencrypt, and read with k2 alone', async () => {
    const schema = stack.schemaOf({ name: 'rot_main' });
    const before = open({ schemas: [schema], encryptionKey: OLD, coherence: { bus: stack.bus() } });
    for (let i = 0; i < ROWS; i++) {
      await before.set(schema, { id: `r${String(i).padStart(2, '0')}`, name: `n${i}`, email: emailOf(i) });
      tally.writesAcknowledged += 1;
    }
    tally.operations += ROWS;
    expect((await l3Emails()).every(([, e]) => e?.startsWith('v2.k1.'))).toBe(true);

    // Another instance, rotated: reads the k1 rows (from L2 and, after invalidation, from L3).
    const rotated = open({ schemas: [schema], encryptionKey: ROTATED, coherence: { bus: stack.bus() } });
    for (let i = 0; i < ROWS; i += 3) {
      expect((await rotated.get(schema, `r${String(i).padStart(2, '0')}`)).email).toBe(emailOf(i));
    }
    await rotated.invalidateAll(schema);
    for (let i = 0; i < ROWS; i += 3) {
      expect((await rotated.get(schema, `r${String(i).padStart(2, '0')}`)).email).toBe(emailOf(i));
    }
    // New writes go under k2; the k1-only deployment cannot read them: a typed error, no garbage.
    await rotated.set(schema, { id: 'r00', name: 'n0', email: emailOf(0) });
    expect((await stack.l3Snapshot()).find((r) => r.id === 'r00')?.email).toMatch(/^v2\.k2\./);
    const oldOnly = open({ schemas: [schema], encryptionKey: OLD });
    const refused = await strataRejection(oldOnly.get(schema, 'r00'));
    expect(refused.code).toBe('DECODE_FAILED');
    tally.inputsTried += 1;

    // A cached search list (rows with k1 ciphertext) and warm L1 on the first instance.
    await rotated.searchCached(schema, Q().orderBy('id').limit(100).build());
    for (let i = 1; i < ROWS; i += 4) await before.get(schema, `r${String(i).padStart(2, '0')}`);
    const appliedBefore = before.stats().invalidationsApplied;
    const servedBefore = await l2RowValues('rot_main');
    expect(servedBefore.filter(([, v]) => v?.includes('v2.k1.')).length).toBeGreaterThan(0);

    const progress: { scanned: number; reencrypted: number }[] = [];
    const result = await reencrypt(rotated, schema, { batchSize: 7, onProgress: (p) => progress.push(p) });
    expect(result).toEqual({ scanned: ROWS, reencrypted: ROWS - 1 });
    expect(progress.map((p) => p.scanned)).toEqual([7, 14, 21, 28, 30]);
    expect(progress.at(-1)).toEqual(result);
    tally.operations += 1;

    // Postgres: every value under k2, none in plaintext; L2: no row value carries a k1 ciphertext.
    for (const [, email] of await l3Emails()) expect(email).toMatch(/^v2\.k2\./);
    for (const [key, value] of await l2RowValues('rot_main')) expect(value, key).not.toContain('v2.k1.');
    // The other instance was told: its L1 dropped the changed ids.
    await vi.waitFor(() => expect(before.stats().invalidationsApplied).toBeGreaterThan(appliedBefore), {
      timeout: 2_000,
    });
    // The cached list is no longer served (its search generation moved on): it reads k2 values.
    const list = await rotated.searchCached(schema, Q().orderBy('id').limit(100).build());
    expect(list).toHaveLength(ROWS);

    // Once every row is under k2, an instance holding only k2 reads all of them, from L3 and L2.
    const newOnly = open({ schemas: [schema], encryptionKey: NEW_ONLY });
    await newOnly.invalidateAll(schema);
    for (let pass = 0; pass < 2; pass++) {
      const rows = await newOnly.getMany(
        schema,
        Array.from({ length: ROWS }, (_, i) => `r${String(i).padStart(2, '0')}`),
      );
      rows.forEach((row, i) => {
        expect(row?.email).toBe(emailOf(i));
      });
      tally.writesFound += pass === 0 ? ROWS : 0;
      tally.operations += ROWS;
    }
    // Nothing left to do: a second run changes nothing.
    expect(await reencrypt(rotated, schema)).toEqual({ scanned: ROWS, reencrypted: 0 });
  });

  it('the documented order: with k2 staged on every instance first, rows written under k2 read everywhere', async () => {
    const schema = stack.schemaOf({ name: 'rot_staged' });
    // Every instance runs the staged keyring; it still writes under k1.
    const staged = open({ schemas: [schema], encryptionKey: STAGED, coherence: { bus: stack.bus() } });
    await staged.set(schema, { id: 's1', name: 's1', email: emailOf(201) });
    expect((await stack.l3Snapshot()).find((r) => r.id === 's1')?.email).toMatch(/^v2\.k1\./);
    // One instance makes k2 current while the others are still staged: its writes are under k2 …
    const rotated = open({ schemas: [schema], encryptionKey: ROTATED, coherence: { bus: stack.bus() } });
    await rotated.set(schema, { id: 's2', name: 's2', email: emailOf(202) });
    expect((await stack.l3Snapshot()).find((r) => r.id === 's2')?.email).toMatch(/^v2\.k2\./);
    tally.writesAcknowledged += 2;
    // … and the staged instance reads them, from L2 and (after invalidation) from L3, as well as its own.
    for (let pass = 0; pass < 2; pass++) {
      const rows = await staged.getMany(schema, ['s1', 's2']);
      expect(rows.map((r) => r?.email)).toEqual([emailOf(201), emailOf(202)]);
      await staged.invalidateAll(schema);
    }
    tally.writesFound += 2;
    tally.operations += 6;
    // Skipping the first step is what fails: an instance without k2 cannot read the k2 row.
    const unstaged = open({ schemas: [schema], encryptionKey: OLD });
    expect((await strataRejection(unstaged.get(schema, 's2'))).code).toBe('DECODE_FAILED');
    tally.inputsTried += 1;
  });

  it('runs no hooks, stamps no autoNow, bypasses write-behind, and skips rows written meanwhile', async () => {
    const calls = { beforeSet: 0, afterSet: 0 };
    const stamp = new Date('2020-01-01T00:00:00.000Z');
    const schema = stack.schemaOf({
      name: 'rot_wb',
      writeMode: 'write-behind',
      fields: { touchedAt: { autoNow: true } },
      hooks: {
        beforeSet: () => {
          calls.beforeSet += 1;
        },
        afterSet: () => {
          calls.afterSet += 1;
        },
      },
    });
    const writer = open({
      schemas: [schema],
      encryptionKey: OLD,
      writeBehind: { queue: createMemoryQueue() },
    });
    await writer.setMany(
      schema,
      Array.from({ length: 10 }, (_, i) => ({ id: `w${i}`, name: `w${i}`, email: emailOf(100 + i) })),
    );
    await writer.flushDirty();
    tally.writesAcknowledged += 10;
    // A fixed stamp, so an autoNow run by reencrypt would show.
    await stack.pool.query(`update "${stack.name}"."accounts" set touched_at = $1 where id like 'w%'`, [
      stamp,
    ]);

    // Between reencrypt's read and its UPDATE, another instance writes w3: that write must stand.
    const other = open({
      schemas: [schema],
      encryptionKey: ROTATED,
      writeBehind: { queue: createMemoryQueue() },
    });
    let raced = false;
    const racingL3: L3Tier = new Proxy(stack.l3, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (prop !== 'replaceValues' || typeof value !== 'function') {
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (...args: Parameters<L3Tier['replaceValues']>) => {
          if (!raced) {
            raced = true;
            await other.set(schema, { id: 'w3', name: 'raced', email: 'raced@rotation.example' });
            await other.flushDirty();
          }
          return target.replaceValues(...args);
        };
      },
    });
    const queue = createMemoryQueue();
    const rotated = open({ schemas: [schema], encryptionKey: ROTATED, writeBehind: { queue }, l3: racingL3 });
    calls.beforeSet = 0;
    calls.afterSet = 0;
    const result = await reencrypt(rotated, schema);
    expect(result).toEqual({ scanned: 10, reencrypted: 9 });
    // Only the racing write ran hooks; reencrypt itself ran none.
    expect(calls).toEqual({ beforeSet: 1, afterSet: 1 });
    expect(await queue.pending()).toBe(0);
    expect(rotated.stats().dirtyCount).toBe(0);

    const rows = await stack.l3Snapshot();
    const w = rows.filter((r) => String(r.id).startsWith('w'));
    expect(w).toHaveLength(10);
    for (const r of w) {
      expect(r.email).toMatch(/^v2\.k2\./);
      if (r.id !== 'w3') expect((r.touched_at as Date).getTime()).toBe(stamp.getTime());
    }
    const w3 = await rotated.get(schema, 'w3');
    expect([w3.name, w3.email]).toEqual(['raced', 'raced@rotation.example']);
    tally.operations += 12;
    tally.writesAcknowledged += 1;
    tally.writesFound += 11;
  });

  it('gives typed errors for bad options, a tampered row, and a schema without L3; no tier changes', async () => {
    const schema = stack.schemaOf({ name: 'rot_err' });
    const s = open({ schemas: [schema], encryptionKey: ROTATED });
    for (const batchSize of [0, -1, 1.5, 1e9, Number.NaN]) {
      const err = await strataRejection(reencrypt(s, schema, { batchSize }));
      expect(err.code).toBe('INVALID_CONFIG');
      tally.inputsTried += 1;
    }
    const plain = stack.schemaOf({ name: 'rot_plain', fields: { email: { encrypted: false } } });
    const p = open({ schemas: [plain], encryptionKey: ROTATED });
    expect(await reencrypt(p, plain)).toEqual({ scanned: 0, reencrypted: 0 });

    // One row's ciphertext altered in Postgres: DECODE_FAILED naming the row, nothing rewritten.
    const old = open({ schemas: [schema], encryptionKey: OLD });
    await old.set(schema, { id: 'zz_tampered', name: 't', email: 'tampered@rotation.example' });
    await stack.pool.query(
      `update "${stack.name}"."accounts" set email = regexp_replace(email, '.$', case when right(email, 1) = 'A' then 'B' else 'A' end) where id = 'zz_tampered'`,
    );
    const before = await stack.l3Snapshot();
    const err = await strataRejection(reencrypt(s, schema, { batchSize: 1000 }));
    expect(err.code).toBe('DECODE_FAILED');
    expect(err.details).toMatchObject({ id: 'zz_tampered' });
    expect(isStrataError(err.cause, 'DECODE_FAILED')).toBe(true);
    expect(await stack.l3Snapshot()).toEqual(before);
    tally.inputsTried += 1;
    await stack.pool.query(`delete from "${stack.name}"."accounts" where id = 'zz_tampered'`);
  });
});
