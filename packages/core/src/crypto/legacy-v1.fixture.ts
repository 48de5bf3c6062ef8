// For tests only: a ciphertext as Strata wrote it before the v2 binding, so that tests can store
// one and check that it still decrypts (or is refused). No production code imports this file.
import { concatBytes, toBase64, utf8Encode } from '../bytes.js';

/**
 * A `v1.<keyId>.…` value sealed as the encryptor before v2 did: AES-256-GCM, a random nonce, and
 * the additional data `aad` as UTF-8 (none when undefined). For Strata's rows, `aad` was
 * `{schema.table}:{id}:{field}` (`shop.users:42:email`).
 * @example await sealLegacyV1(key, 'k0', 'ada@example.com', 'shop.users:42:email'); // 'v1.k0.…'
 */
export async function sealLegacyV1(
  key: Uint8Array<ArrayBuffer>,
  keyId: string,
  plaintext: string,
  aad?: string,
): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['encrypt']);
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const params: AesGcmParams = { name: 'AES-GCM', iv: nonce, tagLength: 128 };
  if (aad !== undefined) params.additionalData = utf8Encode(aad);
  const sealed = new Uint8Array(await crypto.subtle.encrypt(params, cryptoKey, utf8Encode(plaintext)));
  return `v1.${keyId}.${toBase64(concatBytes(nonce, sealed), { alphabet: 'base64url' })}`;
}
