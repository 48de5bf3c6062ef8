/**
 * Encrypts string fields tagged encrypted, so Postgres and L2 only ever hold ciphertext.
 *
 * Strata gives `aad` (the additional data binding a value to its place) as a string. To an
 * encryptor that has `isLegacy` (the built-in AES-GCM one) it gives, for a new value and for a value
 * `isLegacy` says is not legacy, the unambiguous binding `JSON.stringify([identity, id, field])`
 * (`["shop.users","42","email"]`); for a legacy value, the old `{schema.table}:{id}:{field}` text
 * (`shop.users:42:email`). To an encryptor without `isLegacy` (one written before it existed) it
 * gives the old text for every value, as it always did: its stored values keep decrypting, and its
 * values keep the old binding's ambiguity (see docs/encryption.md).
 *
 * @example
 * const enc = await createAesGcmEncryptor(env.STRATA_KEY);
 * const stored = await enc.encrypt('ada@example.com', '["users","42","email"]');
 * await enc.decrypt(stored, '["users","42","email"]'); // 'ada@example.com'
 */
export interface Encryptor {
  /** Ciphertext is a self-describing string: `v2.<keyId>.<base64url(nonce(12) || ciphertext+tag)>` */
  encrypt(plaintext: string, aad?: string): Promise<string>;
  decrypt(ciphertext: string, aad?: string): Promise<string>;
  /**
   * True when the value should be written again: under a key other than the current one, or (for
   * the built-in encryptor) a `v1.` value. The re-encryption helper and L2 fills use it.
   */
  needsReencrypt(ciphertext: string): boolean;
  /**
   * Optional. True when the value was sealed with the old `{schema.table}:{id}:{field}` binding
   * (the built-in encryptor: a `v1.` value). An encryptor that has it marks what it writes, so that
   * what it sealed with the unambiguous binding is never taken for legacy. Throws `DECODE_FAILED`
   * for a value that is not a ciphertext.
   */
  isLegacy?(ciphertext: string): boolean;
  /** A short non-secret id of each key, for logs: never the key. */
  readonly keyIds: readonly string[];
  /** The id new ciphertexts are written under. */
  readonly currentKeyId: string;
}

/**
 * 32 raw bytes, or a string holding them as base64 (standard or url alphabet) or hex.
 * @example new Strata({ l3, encryptionKey: env.STRATA_ENCRYPTION_KEY }) // 32 bytes, base64
 */
export type KeyMaterial = Uint8Array | string;

/**
 * One key, or several by id for rotation: new values are written under `current`, old ones still
 * decrypt under the id they name.
 *
 * @example { keys: { k1: oldKey, k2: newKey }, current: 'k2' }
 */
export interface KeyringOptions {
  keys: Readonly<Record<string, KeyMaterial>> | KeyMaterial;
  current?: string;
}
