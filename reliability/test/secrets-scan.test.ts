import { createMemoryQueue, Q, type Strata, Strata as StrataClass } from '@strata/core';
import { reencrypt } from '@strata/core/admin';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record } from '../support/ledger.js';
import {
  capturingLogger,
  exposedText,
  keyForms,
  type TierStack,
  testKey,
  tierStack,
} from '../support/stack-tiers.js';

const K1 = testKey(21);
const K2 = testKey(22);
const ROWS = 60;
const secretOf = (i: number) => `secret-${i}-${'zq'.repeat(4)}@plain.example`;

/**
 * After a workload over encrypted fields (write-through, write-behind, tx, searchCached, rotation,
 * failures): Redis and Postgres hold no plaintext of an encrypted field, and no key (hex, base64,
 * base64url, byte list) appears in logs, errors, stats or either tier.
 */
describe('secrets', () => {
  let stack: TierStack;
  const opened: Strata[] = [];
  const logger = capturingLogger();
  const errors: unknown[] = [];
  let operations = 0;
  let acknowledged = 0;

  beforeAll(async () => {
    stack = await tierStack('secrets');
  });
  afterAll(async () => {
    await Promise.allSettled(opened.map((s) => s.close()));
    await stack?.cleanup();
  });

  const capture = async (work: () => Promise<unknown>) => {
    operations += 1;
    try {
      await work();
    } catch (err) {
      errors.push(err);
    }
  };

  it('no plaintext in Redis or Postgres; no key in logs, errors, stats or tiers', async () => {
    const through = stack.schemaOf({ name: 'sec' });
    // The same table and name (the aad binds a value to its schema name), written behind.
    const behind = stack.schemaOf({ name: 'sec', writeMode: 'write-behind' });
    const keyring = { keys: { k1: K1, k2: K2 }, current: 'k2' };
    const a = stack.strata({
      schemas: [through],
      encryptionKey: keyring,
      logger,
      coherence: { bus: stack.bus() },
    });
    const wb = stack.strata({
      schemas: [behind],
      encryptionKey: keyring,
      logger,
      coherence: { bus: stack.bus() },
      writeBehind: { queue: createMemoryQueue() },
    });
    opened.push(wb);
    const old = stack.strata({
      schemas: [through],
      encryptionKey: { keys: { k1: K1 }, current: 'k1' },
      logger,
    });
    opened.push(a, old);
    for (let i = 0; i < ROWS / 3; i++)
      await old.set(through, { id: `o${i}`, name: `o${i}`, email: secretOf(i) });
    await a.setMany(
      through,
      Array.from({ length: ROWS / 3 }, (_, i) => ({ id: `n${i}`, name: `n${i}`, email: secretOf(100 + i) })),
    );
    for (let i = 0; i < ROWS / 3; i++)
      await wb.set(behind, { id: `w${i}`, name: `w${i}`, email: secretOf(200 + i) });
    await a
      .tx()
      .set(through, { id: 'tx1', name: 'tx', email: secretOf(300) })
      .commit();
    acknowledged = ROWS + 1;
    await wb.flushDirty();
    // Scanned now too: a later warmCache rewrites every L2 row and would hide what writes put there.
    const l2AfterWrites = JSON.stringify(await stack.l2Snapshot());
    await a.getMany(
      through,
      Array.from({ length: ROWS / 3 }, (_, i) => `o${i}`),
    );
    await a.searchCached(through, Q().orderBy('id').limit(500).build());
    await wb.search(behind, Q().where('name like $1', 'w%').build());
    await a.warmCache(through);
    await reencrypt(a, through, { batchSize: 7 });
    operations += ROWS + 8;

    // Failures whose errors and logs must not carry the key either.
    const wrong = stack.strata({ schemas: [through], encryptionKey: testKey(23), logger });
    opened.push(wrong);
    await capture(() => wrong.get(through, 'o1'));
    await capture(() => old.get(through, 'n1')); // k2 value, k1-only instance
    await capture(() => a.set(through, { id: 'bad', name: 'x', email: 'lone \uD800' }));
    for (const config of [
      { encryptionKey: Buffer.from(K1).toString('hex').slice(0, 60) },
      { encryptionKey: { keys: { k1: K1 }, current: 'k9' } },
      { encryptionKey: { keys: { 'k.1': Buffer.from(K1).toString('base64') } } },
      { encryptionKey: Buffer.from(K1).toString('base64'), bogus: Buffer.from(K1).toString('hex') },
      { encryptionKey: `${Buffer.from(K1).toString('hex')}00` },
    ]) {
      await capture(async () => new StrataClass({ l3: stack.l3, logger, ...config } as never));
    }
    expect(errors.length).toBe(8);

    // Redis: every value under this prefix, and the bus/queue keys.
    const l2 = await stack.l2Snapshot();
    const l2Text = JSON.stringify(l2) + l2AfterWrites;
    // Postgres: every row, as text.
    const { rows } = await stack.pool.query(
      `select row_to_json(t)::text as r from "${stack.name}"."accounts" t`,
    );
    const l3Text = rows.map((r: { r: string }) => r.r).join('\n');
    expect(rows.length).toBe(ROWS + 1);
    for (const i of [...Array(ROWS / 3).keys()]) {
      for (const n of [i, 100 + i, 200 + i]) {
        expect(l2Text).not.toContain(secretOf(n));
        expect(l3Text).not.toContain(secretOf(n));
      }
    }
    expect(l3Text).not.toContain('plain.example');
    expect(l2Text).not.toContain('plain.example');
    expect(l3Text).toContain('"email":"v2.k2.');
    expect(Object.keys(l2).length).toBeGreaterThan(ROWS / 2); // the scan saw real entries

    const surfaces = {
      logs: logger.lines.join('\n'),
      errors: errors.map(exposedText).join('\n'),
      stats: JSON.stringify([a.stats(), wb.stats(), old.stats(), wrong.stats()]),
      l2: l2Text,
      l3: l3Text,
    };
    expect(surfaces.errors.length).toBeGreaterThan(0);
    for (const [where, text] of Object.entries(surfaces)) {
      for (const key of [K1, K2]) {
        for (const form of keyForms(key)) {
          for (let i = 0; i + 16 <= form.length; i += 8)
            expect(text.includes(form.slice(i, i + 16)), `${where} has key material`).toBe(false);
        }
      }
      for (let n = 0; n < ROWS; n++) expect(text.includes(secretOf(n)), `${where} has plaintext`).toBe(false);
    }
    record({
      category: 'secrets',
      scenario: 'workload + failures, then Redis/Postgres/logs/errors/stats scanned',
      operations,
      writesAcknowledged: acknowledged,
      writesFound: rows.length,
      inputsTried: errors.length,
      hangs: 0,
    });
  });
});
