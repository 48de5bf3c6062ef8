/**
 * Encrypts string fields tagged encrypted, so Postgres and L2 only ever hold ciphertext.
 *
 * @example
 * const enc = await createAesGcmEncryptor(env.STRATA_KEY);
 * const stored = await enc.encrypt('ada@example.com', 'users:42:email');
 * await enc.decrypt(stored, 'users:42:email'); // 'ada@example.com'
 */
export interface Encryptor {
  /** Ciphertext is a self-describing string: `v1.<keyId>.<base64url(nonce(12) || ciphertext+tag)>` */
  encrypt(plaintext: string, aad?: string): Promise<string>;
  decrypt(ciphertext: string, aad?: string): Promise<string>;
  /** True when the value was written under a key other than the current one (re-encryption helper uses it). */
  needsReencrypt(ciphertext: string): boolean;
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
