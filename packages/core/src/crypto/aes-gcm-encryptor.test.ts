import { afterEach, describe, expect, it, vi } from 'vitest';
import { fromBase64, toBase64, toHex } from '../bytes.js';
import { isStrataError, type StrataErrorCode } from '../errors.js';
import { createAesGcmEncryptor } from './aes-gcm-encryptor.js';
import { sealLegacyV1 } from './legacy-v1.fixture.js';

const K1 = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const K2 = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
const PLAINTEXT = 'ada@example.com';

async function failure(promise: Promise<unknown> | (() => unknown), code: StrataErrorCode) {
  let caught: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    caught = err;
  }
  expect(isStrataError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  if (!isStrataError(caught)) throw new Error('unreachable');
  // INVALID_CONFIG carries no cause on purpose: a parser's error could quote the key.
  if (code !== 'INVALID_CONFIG') expect(caught.cause).toBeDefined();
  return caught;
}

function payloadOf(ciphertext: string): Uint8Array {
  return fromBase64(ciphertext.split('.')[2] ?? '', { alphabet: 'base64url' });
}

function withPayload(ciphertext: string, payload: Uint8Array): string {
  const [version, keyId] = ciphertext.split('.');
  return `${version}.${keyId}.${toBase64(payload, { alphabet: 'base64url' })}`;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('createAesGcmEncryptor', () => {
  it('round trips empty, unicode and 100 KB strings', async () => {
    const enc = await createAesGcmEncryptor(K1);
    for (const text of ['', 'Zoë 🎉 日本 \u0000 \uFEFF', 'x'.repeat(100 * 1024)]) {
      expect(await enc.decrypt(await enc.encrypt(text))).toBe(text);
    }
  });

  it('writes v2.<keyId>.<base64url(nonce || ciphertext || tag)>', async () => {
    const enc = await createAesGcmEncryptor(K1);
    const ciphertext = await enc.encrypt(PLAINTEXT);
    expect(ciphertext).toMatch(/^v2\.k0\.[A-Za-z0-9_-]+$/);
    expect(payloadOf(ciphertext).length).toBe(12 + PLAINTEXT.length + 16);
    expect(ciphertext).not.toContain(PLAINTEXT);
    expect(enc.keyIds).toEqual(['k0']);
    expect(enc.currentKeyId).toBe('k0');
  });

  it('uses a fresh nonce each time, so equal plaintexts differ', async () => {
    const enc = await createAesGcmEncryptor(K1);
    const values = await Promise.all(Array.from({ length: 50 }, () => enc.encrypt(PLAINTEXT)));
    expect(new Set(values).size).toBe(50);
    expect(new Set(values.map((v) => toHex(payloadOf(v).subarray(0, 12)))).size).toBe(50);
  });

  it('reads the same key from every textual form', async () => {
    const stored = await (await createAesGcmEncryptor(K1)).encrypt(PLAINTEXT);
    for (const form of [toHex(K1), toBase64(K1), toBase64(K1, { alphabet: 'base64url' })]) {
      expect(await (await createAesGcmEncryptor(form)).decrypt(stored)).toBe(PLAINTEXT);
    }
  });

  it('rotates: old values decrypt under their key, new ones use current', async () => {
    const before = await createAesGcmEncryptor({ keys: { k1: K1 }, current: 'k1' });
    const old = await before.encrypt(PLAINTEXT);
    const after = await createAesGcmEncryptor({ keys: { k1: K1, k2: K2 }, current: 'k2' });
    expect(after.keyIds).toEqual(['k1', 'k2']);
    expect(await after.decrypt(old)).toBe(PLAINTEXT);
    expect(after.needsReencrypt(old)).toBe(true);
    const fresh = await after.encrypt(PLAINTEXT);
    expect(fresh.startsWith('v2.k2.')).toBe(true);
    expect(after.needsReencrypt(fresh)).toBe(false);
    expect(before.needsReencrypt(old)).toBe(false);
    // The old deployment cannot read the new key's values: a clear error, not garbage.
    const err = await failure(before.decrypt(fresh), 'DECODE_FAILED');
    expect(err.message).toContain('unknown key id "k2"');
  });

  it('binds a value to its aad', async () => {
    const enc = await createAesGcmEncryptor(K1);
    const bound = await enc.encrypt(PLAINTEXT, 'users:42:email');
    expect(await enc.decrypt(bound, 'users:42:email')).toBe(PLAINTEXT);
    await failure(enc.decrypt(bound, 'users:43:email'), 'DECODE_FAILED');
    await failure(enc.decrypt(bound), 'DECODE_FAILED');
    await failure(enc.decrypt(await enc.encrypt(PLAINTEXT), 'users:42:email'), 'DECODE_FAILED');
    // GCM treats empty aad as none.
    expect(await enc.decrypt(await enc.encrypt(PLAINTEXT, ''))).toBe(PLAINTEXT);
  });

  it('still decrypts a v1 value (the old format) with the aad it was sealed with, and marks it legacy', async () => {
    const enc = await createAesGcmEncryptor(K1);
    const old = await sealLegacyV1(K1, 'k0', PLAINTEXT, 'users:42:email');
    expect(await enc.decrypt(old, 'users:42:email')).toBe(PLAINTEXT);
    await failure(enc.decrypt(old, 'users:43:email'), 'DECODE_FAILED');
    expect(await enc.decrypt(await sealLegacyV1(K1, 'k0', PLAINTEXT))).toBe(PLAINTEXT);
    // Under the current key, yet to be written again: v2 binds it unambiguously.
    expect(enc.needsReencrypt(old)).toBe(true);
    expect(enc.isLegacy?.(old)).toBe(true);
    const fresh = await enc.encrypt(PLAINTEXT, 'users:42:email');
    expect(enc.isLegacy?.(fresh)).toBe(false);
    expect(enc.needsReencrypt(fresh)).toBe(false);
    await failure(() => enc.isLegacy?.('plain text'), 'DECODE_FAILED');
  });

  it('opens no value whose version tag was changed, under either binding', async () => {
    const enc = await createAesGcmEncryptor(K1);
    const fresh = await enc.encrypt(PLAINTEXT, 'users:42:email');
    expect(fresh).toMatch(/^v2\./);
    // v2 additional data starts with a byte no UTF-8 text has, so no v1 aad equals a v2 one.
    for (const aad of ['users:42:email', undefined, '']) {
      await failure(enc.decrypt(fresh.replace(/^v2\./, 'v1.'), aad), 'DECODE_FAILED');
    }
    const old = await sealLegacyV1(K1, 'k0', PLAINTEXT, 'users:42:email');
    for (const aad of ['users:42:email', undefined, '']) {
      await failure(enc.decrypt(old.replace(/^v1\./, 'v2.'), aad), 'DECODE_FAILED');
    }
    const bare = await sealLegacyV1(K1, 'k0', PLAINTEXT);
    await failure(enc.decrypt(bare.replace(/^v1\./, 'v2.')), 'DECODE_FAILED');
  });

  it('fails with DECODE_FAILED under the wrong key with the same id', async () => {
    const stored = await (await createAesGcmEncryptor(K1)).encrypt(PLAINTEXT);
    await failure((await createAesGcmEncryptor(K2)).decrypt(stored), 'DECODE_FAILED');
  });

  it('detects a flip of any single byte: nonce, ciphertext or tag', async () => {
    const enc = await createAesGcmEncryptor(K1);
    const stored = await enc.encrypt('secret');
    const payload = payloadOf(stored);
    for (let i = 0; i < payload.length; i++) {
      const tampered = payload.slice();
      tampered[i]! ^= 1;
      await failure(enc.decrypt(withPayload(stored, tampered)), 'DECODE_FAILED');
    }
  });

  it('fails with DECODE_FAILED on truncated, unknown, wrong-version and garbage values', async () => {
    const enc = await createAesGcmEncryptor({ keys: { k1: K1, k2: K2 }, current: 'k1' });
    const stored = await enc.encrypt(PLAINTEXT);
    const payload = payloadOf(stored);
    const bad = [
      stored.slice(0, -1),
      stored.slice(0, -4),
      withPayload(stored, payload.subarray(0, payload.length - 1)),
      withPayload(stored, payload.subarray(0, 27)),
      withPayload(stored, new Uint8Array()),
      stored.replace('v2.k1.', 'v2.k9.'),
      stored.replace('v2.k1.', 'v2.k2.'),
      stored.replace('v2.', 'v1.'),
      stored.replace('v2.', 'v3.'),
      stored.replace('v2.', 'V2.'),
      stored.replace('v2.', ''),
      `${stored}.extra`,
      stored.replace('v2.k1.', 'v2.k!.'),
      stored.replace(/.$/, '='),
      '',
      'hello',
      'v1..',
      'v1.k1.',
      'v1.k1.!!!!',
      'v2..',
      'v2.k1.',
    ];
    for (const value of bad) await failure(enc.decrypt(value), 'DECODE_FAILED');
    await failure(enc.decrypt(42 as unknown as string), 'DECODE_FAILED');
    await failure(enc.decrypt(stored, 7 as unknown as string), 'DECODE_FAILED');
  });

  it('throws DECODE_FAILED from needsReencrypt on a value that is not a ciphertext', async () => {
    const enc = await createAesGcmEncryptor(K1);
    await failure(() => enc.needsReencrypt('plain text'), 'DECODE_FAILED');
    expect(enc.needsReencrypt(`v1.other.${toBase64(new Uint8Array(28), { alphabet: 'base64url' })}`)).toBe(
      true,
    );
    const empty = toBase64(new Uint8Array(28), { alphabet: 'base64url' });
    expect(enc.needsReencrypt(`v2.k0.${empty}`)).toBe(false);
    expect(enc.needsReencrypt(`v1.k0.${empty}`)).toBe(true);
  });

  it('refuses to encrypt what UTF-8 cannot carry, or a non-string', async () => {
    const enc = await createAesGcmEncryptor(K1);
    await failure(enc.encrypt('a\uD800'), 'ENCODE_FAILED');
    await failure(enc.encrypt(PLAINTEXT, 'users:\uDC00'), 'ENCODE_FAILED');
    await failure(enc.encrypt(12 as unknown as string), 'ENCODE_FAILED');
  });

  it('never puts plaintext, aad or key material in decrypt errors', async () => {
    const enc = await createAesGcmEncryptor(K1);
    const stored = await enc.encrypt('TOP-SECRET-VALUE', 'aad-SECRET');
    const errors = [
      await failure(enc.decrypt(stored, 'aad-OTHER'), 'DECODE_FAILED'),
      await failure((await createAesGcmEncryptor(K2)).decrypt(stored, 'aad-SECRET'), 'DECODE_FAILED'),
      // Plaintext handed to decrypt by mistake must not be echoed either.
      await failure(enc.decrypt('v3.TOP-SECRET-VALUE.x'), 'DECODE_FAILED'),
      await failure(enc.decrypt('TOP-SECRET-VALUE'), 'DECODE_FAILED'),
    ];
    for (const err of errors) {
      const text = `${String(err)} ${JSON.stringify(err)} ${String(err.cause)}`;
      for (const secret of ['TOP-SECRET', 'SECRET', toHex(K1), toBase64(K1), toBase64(K2)]) {
        expect(text).not.toContain(secret);
      }
    }
  });

  it('imports each key once, non-extractable, and zeroes nothing of the caller', async () => {
    const importKey = vi.spyOn(crypto.subtle, 'importKey');
    const mine = K1.slice();
    const enc = await createAesGcmEncryptor({ keys: { k1: mine, k2: toHex(K2) }, current: 'k1' });
    for (let i = 0; i < 5; i++) await enc.decrypt(await enc.encrypt(PLAINTEXT));
    expect(importKey).toHaveBeenCalledTimes(2);
    for (const call of importKey.mock.calls) {
      expect(call[0]).toBe('raw');
      expect(call[3]).toBe(false);
      expect(call[4]).toEqual(['encrypt', 'decrypt']);
    }
    expect(mine).toEqual(K1);
  });

  it('rejects bad configuration with INVALID_CONFIG before touching Web Crypto', async () => {
    const importKey = vi.spyOn(crypto.subtle, 'importKey');
    await failure(createAesGcmEncryptor(K1.subarray(1)), 'INVALID_CONFIG');
    await failure(createAesGcmEncryptor('nope'), 'INVALID_CONFIG');
    await failure(createAesGcmEncryptor({ keys: { a: K1, b: K2 }, current: 'c' }), 'INVALID_CONFIG');
    expect(importKey).not.toHaveBeenCalled();
  });

  it('is frozen and shows no key when logged', async () => {
    const enc = await createAesGcmEncryptor(K1);
    expect(Object.isFrozen(enc)).toBe(true);
    expect(Object.isFrozen(enc.keyIds)).toBe(true);
    expect(JSON.stringify(enc)).not.toContain(toBase64(K1));
  });
});
