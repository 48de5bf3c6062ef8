import type { Strata } from '@strata/core';
import { reencrypt } from '@strata/core/admin';
import { strataRejection } from '@strata/core/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sealLegacyV1 } from '../../packages/core/src/crypto/legacy-v1.fixture.js';
import { type TierStack, testKey, tierStack } from '../support/stack-tiers.js';

const K1 = new Uint8Array(testKey(1));
const KEYRING = { keys: { k1: K1 }, current: 'k1' };
const LEGACY_ROWS = 12;
const ids = Array.from({ length: LEGACY_ROWS }, (_, i) => `r${String(i).padStart(2, '0')}`);
const emailOf = (id: string) => `${id}@legacy.example`;

/**
 * Upgrading stored `v1.` values (bound to `{schema.table}:{id}:{field}`, ambiguous) to `v2.` ones
 * (bound to [identity, id, field]): `reencrypt` rewrites them even under the current key, and an
 * app with `encryption: { legacy: 'refuse' }` then reads every row.
 */
describe('reencrypt of legacy (v1) values', () => {
  let stack: TierStack;
  const opened: Strata[] = [];
  const open = (...args: Parameters<TierStack['strata']>) => {
    const s = stack.strata(...args);
    opened.push(s);
    return s;
  };
  const l3Emails = async () => (await stack.l3Snapshot()).map((r) => String(r.email));
  const l2RowValues = async () =>
    Object.entries(await stack.l2Snapshot()).filter(([key]) => key.includes(':r:'));

  beforeAll(async () => {
    stack = await tierStack('legacy_reenc');
  });
  beforeEach(async () => {
    await stack.pool.query(`truncate "${stack.name}"."accounts"`);
    // Rows as the old binding sealed them, stored before the upgrade.
    for (const id of ids) {
      const email = await sealLegacyV1(K1, 'k1', emailOf(id), `${stack.name}.accounts:${id}:email`);
      await stack.pool.query(`insert into "${stack.name}"."accounts" (id, name, email) values ($1, $1, $2)`, [
        id,
        email,
      ]);
    }
  });
  afterAll(async () => {
    await Promise.allSettled(opened.map((s) => s.close()));
    await stack?.cleanup();
  });

  it('rewrites v1 values under the current key as v2; then a refusing app reads every row', async () => {
    const schema = stack.schemaOf({ name: 'legacy_main' });
    const app = open({ schemas: [schema], encryptionKey: KEYRING });
    await app.set(schema, { id: 'z_new', name: 'z_new', email: emailOf('z_new') });
    expect((await l3Emails()).filter((e) => e.startsWith('v1.k1.'))).toHaveLength(LEGACY_ROWS);
    // Read (accepted by default); the L2 fill seals them again as v2, as it does an older key's.
    const read = await app.getMany(schema, ids.slice(0, 4));
    expect(read.map((r) => r?.email)).toEqual(ids.slice(0, 4).map(emailOf));
    const cached = await l2RowValues();
    expect(cached.length).toBeGreaterThanOrEqual(4);
    for (const [key, value] of cached) expect(value, key).not.toContain('v1.k1.');

    const progress: number[] = [];
    const result = await reencrypt(app, schema, {
      batchSize: 5,
      onProgress: (p) => progress.push(p.scanned),
    });
    expect(result).toEqual({ scanned: LEGACY_ROWS + 1, reencrypted: LEGACY_ROWS });
    expect(progress).toEqual([5, 10, 13]);
    for (const email of await l3Emails()) expect(email).toMatch(/^v2\.k1\./);
    expect(await reencrypt(app, schema)).toEqual({ scanned: LEGACY_ROWS + 1, reencrypted: 0 });

    const refusing = open({ schemas: [schema], encryptionKey: KEYRING, encryption: { legacy: 'refuse' } });
    for (let pass = 0; pass < 2; pass++) {
      const rows = await refusing.getMany(schema, [...ids, 'z_new']);
      expect(rows.map((r) => r?.email)).toEqual([...ids, 'z_new'].map(emailOf));
      await refusing.invalidateAll(schema);
    }
  });

  it("under encryption.legacy 'refuse', reencrypt fails at the first v1 value and changes nothing", async () => {
    const schema = stack.schemaOf({ name: 'legacy_refused' });
    const refusing = open({ schemas: [schema], encryptionKey: KEYRING, encryption: { legacy: 'refuse' } });
    const l3Before = await stack.l3Snapshot();
    const l2Before = await stack.l2Snapshot();
    const err = await strataRejection(reencrypt(refusing, schema, { batchSize: 5 }));
    expect(err.code).toBe('DECODE_FAILED');
    expect(err.details).toMatchObject({ id: 'r00' });
    expect(String((err.cause as Error).message)).toContain("refused by encryption.legacy 'refuse'");
    expect(await stack.l3Snapshot()).toEqual(l3Before);
    expect(await stack.l2Snapshot()).toEqual(l2Before);
    // Its reads of them fail the same way.
    expect((await strataRejection(refusing.get(schema, 'r03'))).code).toBe('DECODE_FAILED');
  });

  it("under encryption.legacy 'write' (a rolling upgrade's first step), writes and keeps v1 values", async () => {
    const schema = stack.schemaOf({ name: 'legacy_write' });
    const writing = open({ schemas: [schema], encryptionKey: KEYRING, encryption: { legacy: 'write' } });
    await writing.set(schema, { id: 'z_new', name: 'z_new', email: emailOf('z_new') });
    // Every stored value is one the release before v2 reads: v1, bound to the old text.
    const stored = await l3Emails();
    expect(stored.filter((e) => e.startsWith('v1.k1.'))).toHaveLength(LEGACY_ROWS + 1);
    expect(await writing.getMany(schema, ['r00', 'z_new'])).toMatchObject([
      { email: emailOf('r00') },
      { email: emailOf('z_new') },
    ]);
    // Nothing to rewrite while v1 is written; the next step ('accept', the default) upgrades them.
    expect(await reencrypt(writing, schema)).toEqual({ scanned: LEGACY_ROWS + 1, reencrypted: 0 });
    expect(await l3Emails()).toEqual(stored);
    const accepting = open({ schemas: [schema], encryptionKey: KEYRING });
    expect(await reencrypt(accepting, schema)).toEqual({
      scanned: LEGACY_ROWS + 1,
      reencrypted: LEGACY_ROWS + 1,
    });
  });
});
