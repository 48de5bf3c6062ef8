import { concatBytes, utf8Decode, utf8Encode } from '../bytes.js';
import { StrataError } from '../errors.js';
import {
  CURRENT_VERSION,
  type EnvelopeVersion,
  formatEnvelope,
  NONCE_BYTES,
  parseEnvelope,
  TAG_BYTES,
} from './envelope.js';
import { decryptFailed, encryptFailed, invalidKeyConfig } from './failures.js';
import { readKeyring } from './keyring.js';
import type { Encryptor, KeyMaterial, KeyringOptions } from './types.js';

// UTF-8 cannot carry an unpaired surrogate: it would decrypt as U+FFFD, a different string.
const LONE_SURROGATE = /\p{Cs}/u;
/**
 * Starts the additional data of every v2 value. 0xFF occurs in no UTF-8 text, and a v1 value's
 * additional data is UTF-8 text, so none equals any v2 one: changing a value's `v1.`/`v2.` tag
 * cannot make it open under the other binding (in another place).
 */
const V2_DOMAIN = Uint8Array.of(0xff, 2);

/**
 * An {@link Encryptor} using AES-256-GCM from Web Crypto, with a fresh random 12-byte nonce per
 * value. Keys are imported once, non-extractable; the raw bytes are zeroed after import.
 *
 * Pass `aad` (e.g. `["users","42","ssn"]`) to bind a ciphertext to its place: decrypting it with
 * any other `aad` fails, so it cannot be copied to another row or field. `''` and no `aad` are the
 * same. New values are `v2.` ones; `v1.` values (written before, bound with the old
 * `table:id:field` text) still decrypt when given the `aad` they were sealed with: `isLegacy` tells
 * the caller which binding to give, and `needsReencrypt` is true for them.
 *
 * @example
 * const enc = await createAesGcmEncryptor({ keys: { k1: oldKey, k2: newKey }, current: 'k2' });
 * const stored = await enc.encrypt('secret', '["users","42","ssn"]'); // 'v2.k2.…'
 * enc.needsReencrypt(stored); // false
 */
export async function createAesGcmEncryptor(
  options: KeyringOptions | KeyMaterial,
  /** What new values are written as: 'v1' only while instances of a release before v2 still run. */
  writes: EnvelopeVersion = CURRENT_VERSION,
): Promise<Encryptor> {
  const keyring = readKeyring(options);
  const webCrypto = webCryptoOrThrow();
  const subtle = webCrypto.subtle;
  const cryptoKeys = new Map<string, CryptoKey>();
  try {
    for (const [id, raw] of keyring.keys) {
      try {
        cryptoKeys.set(
          id,
          await subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']),
        );
      } catch (err) {
        // Web Crypto's errors describe the algorithm, never the key, so they are safe as a cause.
        throw new StrataError('INVALID_CONFIG', `encryption keys: key "${id}" was refused by Web Crypto`, {
          cause: err,
          details: { keyId: id },
        });
      }
    }
  } finally {
    for (const raw of keyring.keys.values()) raw.fill(0);
  }
  const currentKeyId = keyring.current;
  const currentKey = cryptoKeys.get(currentKeyId) as CryptoKey;

  async function encrypt(plaintext: string, aad?: string): Promise<string> {
    if (typeof plaintext !== 'string') throw encryptFailed(`expected a string, got ${typeof plaintext}`);
    if (LONE_SURROGATE.test(plaintext)) throw encryptFailed('string has a lone surrogate (not valid UTF-8)');
    if (!isAad(aad)) throw encryptFailed('aad must be a well-formed string');
    const nonce = webCrypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    let sealed: ArrayBuffer;
    try {
      sealed = await subtle.encrypt(params(nonce, writes, aad), currentKey, utf8Encode(plaintext));
    } catch (err) {
      throw encryptFailed('AES-GCM encryption failed', err, { keyId: currentKeyId });
    }
    return formatEnvelope({
      version: writes,
      keyId: currentKeyId,
      nonce,
      sealed: new Uint8Array(sealed),
    });
  }

  async function decrypt(ciphertext: string, aad?: string): Promise<string> {
    if (!isAad(aad)) throw decryptFailed('aad must be a well-formed string');
    const { version, keyId, nonce, sealed } = parseEnvelope(ciphertext);
    const key = cryptoKeys.get(keyId);
    if (key === undefined) throw decryptFailed(`unknown key id "${keyId}"`, undefined, { keyId });
    let opened: ArrayBuffer;
    try {
      opened = await subtle.decrypt(params(nonce, version, aad), key, sealed);
    } catch (err) {
      throw decryptFailed('authentication failed (wrong key, wrong aad, or altered value)', err, { keyId });
    }
    try {
      return utf8Decode(new Uint8Array(opened));
    } catch (err) {
      throw decryptFailed('plaintext is not valid UTF-8', err, { keyId });
    }
  }

  return Object.freeze({
    encrypt,
    decrypt,
    needsReencrypt: (ciphertext: string) => {
      const { version, keyId } = parseEnvelope(ciphertext);
      // While v1 is written, neither format is re-sealed for its own sake (no churn either way).
      return keyId !== currentKeyId || (writes === 'v2' && version === 'v1');
    },
    isLegacy: (ciphertext: string) => parseEnvelope(ciphertext).version === 'v1',
    keyIds: Object.freeze([...cryptoKeys.keys()]),
    currentKeyId,
  });
}

function webCryptoOrThrow(): Crypto {
  const webCrypto: Crypto | undefined = globalThis.crypto;
  if (webCrypto?.subtle === undefined) throw invalidKeyConfig('Web Crypto (crypto.subtle) is not available');
  return webCrypto;
}

/** Lone surrogates are refused: as UTF-8 they all become U+FFFD, so distinct aads would collide. */
function isAad(aad: unknown): aad is string | undefined {
  return aad === undefined || (typeof aad === 'string' && !LONE_SURROGATE.test(aad));
}

function params(
  nonce: Uint8Array<ArrayBuffer>,
  version: EnvelopeVersion,
  aad: string | undefined,
): AesGcmParams {
  const base = { name: 'AES-GCM', iv: nonce, tagLength: TAG_BYTES * 8 };
  if (version === 'v2') return { ...base, additionalData: concatBytes(V2_DOMAIN, utf8Encode(aad ?? '')) };
  return aad === undefined ? base : { ...base, additionalData: utf8Encode(aad) };
}
