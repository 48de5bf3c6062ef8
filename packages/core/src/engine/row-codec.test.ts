import { pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { jsonCodec } from '../codec/json-codec.js';
import { createAesGcmEncryptor } from '../crypto/aes-gcm-encryptor.js';
import { sealLegacyV1 } from '../crypto/legacy-v1.fixture.js';
import type { Encryptor } from '../crypto/types.js';
import { isStrataError } from '../errors.js';
import { defineSchema } from '../schema/define-schema.js';
import type { CompiledSchema } from '../schema/types.js';
import type { LegacyBinding } from './field-binding.js';
import { RowCodec } from './row-codec.js';

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 7);
const cols = () => ({ id: text('id').primaryKey(), secret: text('secret') });
const fields = { secret: { encrypted: true } } as const;
const schemaOf = (name: string, table: Parameters<typeof defineSchema>[0]['table']) =>
  defineSchema({ name, table, fields }) as unknown as CompiledSchema;

// Pairs of places the old binding (`{schema.table}:{id}:{field}` as plain text) could not tell apart.
const qualified = schemaOf('qualified', pgSchema('s').table('items', cols()));
const dotted = schemaOf('dotted', pgTable('s.items', cols()));
const colonTable = schemaOf('colon', pgTable('t:x', cols()));
const plainTable = schemaOf('plain', pgTable('t', cols()));

const encryptor = createAesGcmEncryptor(KEY);
const codec = (schema: CompiledSchema, legacy?: LegacyBinding, enc: Promise<Encryptor> = encryptor) =>
  new RowCodec(schema, jsonCodec, enc, legacy);

async function decodeFailure(promise: Promise<unknown>): Promise<Error> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isStrataError(err, 'DECODE_FAILED'), `expected DECODE_FAILED, got ${String(err)}`).toBe(true);
  return err as Error;
}

/** What an encryptor written before `isLegacy` existed is given: it records each aad. */
function recordingEncryptor(inner: Encryptor, withLegacy: boolean) {
  const aads: (string | undefined)[] = [];
  const enc: Encryptor = {
    encrypt: (plain, aad) => {
      aads.push(aad);
      return inner.encrypt(plain, aad);
    },
    decrypt: (value, aad) => {
      aads.push(aad);
      return inner.decrypt(value, aad);
    },
    needsReencrypt: (value) => inner.needsReencrypt(value),
    keyIds: inner.keyIds,
    currentKeyId: inner.currentKeyId,
    ...(withLegacy && { isLegacy: (value: string) => inner.isLegacy!(value) }),
  };
  return { enc, aads };
}

describe('RowCodec: a ciphertext is bound to one table, row and field', () => {
  it('refuses a value moved between an unqualified table "s.items" and table items of schema s', async () => {
    const stored = await codec(qualified).encryptRow({ id: 'k', secret: 'of s.items' }, 'k');
    expect(stored.secret).toMatch(/^v2\.k0\./);
    expect(await codec(qualified).decryptRow(stored, 'k')).toEqual({ id: 'k', secret: 'of s.items' });
    const err = await decodeFailure(codec(dotted).decryptRow(stored, 'k'));
    expect(err.message).toContain('authentication failed');
    const back = await codec(dotted).encryptRow({ id: 'k', secret: 'of "s.items"' }, 'k');
    await decodeFailure(codec(qualified).decryptRow(back, 'k'));
  });

  it("refuses table t:x's row y in table t's row x:y, and the other way", async () => {
    const stored = await codec(colonTable).encryptRow({ id: 'y', secret: 'of t:x' }, 'y');
    await decodeFailure(codec(plainTable).decryptRow(stored, 'x:y'));
    const back = await codec(plainTable).encryptRow({ id: 'x:y', secret: 'of t' }, 'x:y');
    await decodeFailure(codec(colonTable).decryptRow(back, 'y'));
    // Another row or field of the same table refuses it too, as before.
    await decodeFailure(codec(colonTable).decryptRow(stored, 'z'));
  });

  it('binds to JSON [identity, id, field]: the identity encodes the dot of "s.items"', async () => {
    const enc = await encryptor;
    const inQualified = await codec(qualified).encryptRow({ id: 'k', secret: 'a' }, 'k');
    expect(await enc.decrypt(inQualified.secret as string, '["s.items","k","secret"]')).toBe('a');
    const inDotted = await codec(dotted).encryptRow({ id: 'k', secret: 'b' }, 'k');
    expect(await enc.decrypt(inDotted.secret as string, '["s%2Eitems","k","secret"]')).toBe('b');
  });

  it("reads a v1 value with the old binding under 'accept' (the default), refuses it under 'refuse'", async () => {
    const v1 = { id: 'k', secret: await sealLegacyV1(KEY, 'k0', 'old', 's.items:k:secret') };
    expect(await codec(qualified).decryptRow(v1, 'k')).toEqual({ id: 'k', secret: 'old' });
    expect(await codec(qualified, 'accept').decryptRow(v1, 'k')).toEqual({ id: 'k', secret: 'old' });
    // The old binding's ambiguity stays with v1 values until they are re-encrypted.
    expect(await codec(dotted).decryptRow(v1, 'k')).toEqual({ id: 'k', secret: 'old' });
    const err = await decodeFailure(codec(qualified, 'refuse').decryptRow(v1, 'k'));
    expect(err.message).toBe(
      "strata: schema qualified: field secret of row k: cannot decrypt value: a legacy (v1) value, refused by encryption.legacy 'refuse'",
    );
    expect((err as { details?: unknown }).details).toMatchObject({
      binding: 'legacy',
      field: 'secret',
      id: 'k',
    });
    // v2 values read under 'refuse'.
    const fresh = await codec(qualified, 'refuse').encryptRow({ id: 'k', secret: 'new' }, 'k');
    expect(await codec(qualified, 'refuse').decryptRow(fresh, 'k')).toEqual({ id: 'k', secret: 'new' });
  });

  it('reseals a v1 value for L2 as v2 (as it does a value of an older key)', async () => {
    const v1 = { id: 'k', secret: await sealLegacyV1(KEY, 'k0', 'old', 's.items:k:secret') };
    const out = await codec(qualified).reseal(v1, { id: 'k', secret: 'old' }, 'k');
    expect(out.secret).toMatch(/^v2\.k0\./);
    expect(await codec(qualified, 'refuse').decryptRow(out, 'k')).toEqual({ id: 'k', secret: 'old' });
  });

  it('gives an encryptor without isLegacy the old binding text, for every value, as before', async () => {
    const inner = await encryptor;
    const old = recordingEncryptor(inner, false);
    const stored = await codec(qualified, 'accept', Promise.resolve(old.enc)).encryptRow(
      { id: 'k', secret: 'x' },
      'k',
    );
    await codec(qualified, 'accept', Promise.resolve(old.enc)).decryptRow(stored, 'k');
    expect(old.aads).toEqual(['s.items:k:secret', 's.items:k:secret']);
    const marked = recordingEncryptor(inner, true);
    const v1 = { id: 'k', secret: await sealLegacyV1(KEY, 'k0', 'old', 's.items:k:secret') };
    const fresh = await codec(qualified, 'accept', Promise.resolve(marked.enc)).encryptRow(
      { id: 'k', secret: 'y' },
      'k',
    );
    await codec(qualified, 'accept', Promise.resolve(marked.enc)).decryptRow(fresh, 'k');
    await codec(qualified, 'accept', Promise.resolve(marked.enc)).decryptRow(v1, 'k');
    const place = '["s.items","k","secret"]';
    expect(marked.aads).toEqual([place, place, 's.items:k:secret']);
  });

  it("writes v1 values with the old binding under 'write', which a release before v2 reads", async () => {
    // 'write' is a rolling upgrade's first step: instances of the release before v2 still run.
    const writing = codec(qualified, 'write', createAesGcmEncryptor(KEY, 'v1'));
    const stored = await writing.encryptRow({ id: 'k', secret: 'rolled' }, 'k');
    expect(stored.secret).toMatch(/^v1\./);
    // The release before v2 opened a value with its `{schema.table}:{id}:{field}` text.
    const before = await encryptor;
    expect(await before.decrypt(stored.secret as string, 's.items:k:secret')).toBe('rolled');
    expect(await codec(qualified, 'accept').decryptRow(stored, 'k')).toEqual({ id: 'k', secret: 'rolled' });
    expect(await writing.decryptRow(stored, 'k')).toEqual({ id: 'k', secret: 'rolled' });
    // Nothing is sealed again for its format while v1 is written: neither v1 nor v2 values churn.
    const v2 = await codec(qualified).encryptRow({ id: 'k', secret: 'new' }, 'k');
    expect(await writing.decryptRow(v2, 'k')).toEqual({ id: 'k', secret: 'new' });
    const v1Writer = await createAesGcmEncryptor(KEY, 'v1');
    expect([
      v1Writer.needsReencrypt(stored.secret as string),
      v1Writer.needsReencrypt(v2.secret as string),
    ]).toEqual([false, false]);
    expect(before.needsReencrypt(stored.secret as string)).toBe(true);
    expect((await writing.reseal(stored, { id: 'k', secret: 'rolled' }, 'k')).secret).toBe(stored.secret);
  });
});
