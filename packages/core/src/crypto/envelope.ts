import { concatBytes, fromBase64, toBase64 } from '../bytes.js';
import { decryptFailed } from './failures.js';
import { isKeyId } from './keyring.js';

/**
 * The format tag, which also says how a value is bound to its place (its AES-GCM additional
 * data): `v2` (written now) with the caller's unambiguous binding, domain-separated (see
 * `additionalData`); `v1` (written before) with the caller's old `table:id:field` text. Both have
 * the same layout. A new layout or binding gets a new tag, so old values stay readable.
 */
export type EnvelopeVersion = 'v1' | 'v2';
/** What new values are written as. */
export const CURRENT_VERSION: EnvelopeVersion = 'v2';
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/** A parsed ciphertext: its format tag, the key it names, the nonce, and the AES-GCM output (ciphertext + tag). */
export interface Envelope {
  readonly version: EnvelopeVersion;
  readonly keyId: string;
  readonly nonce: Uint8Array<ArrayBuffer>;
  readonly sealed: Uint8Array<ArrayBuffer>;
}

/**
 * `<version>.<keyId>.<base64url(nonce || sealed)>`: dots never occur in an id or in base64url, so
 * the value splits unambiguously, and it is safe in URLs, headers and text columns.
 *
 * @example formatEnvelope({ version: 'v2', keyId: 'k0', nonce, sealed }); // 'v2.k0.q83v...'
 */
export function formatEnvelope({ version, keyId, nonce, sealed }: Envelope): string {
  return `${version}.${keyId}.${toBase64(concatBytes(nonce, sealed), { alphabet: 'base64url' })}`;
}

/**
 * Splits a ciphertext into its parts, throwing `DECODE_FAILED` when it is not a v1 or v2 value.
 * Says nothing about authenticity: only decryption checks the tag.
 */
export function parseEnvelope(text: unknown): Envelope {
  if (typeof text !== 'string') throw decryptFailed(`expected a string, got ${typeof text}`);
  const parts = text.split('.');
  if (parts.length !== 3) throw decryptFailed('not a ciphertext (expected version.keyId.payload)');
  const [version, keyId, payload] = parts as [string, string, string];
  if (version !== 'v2' && version !== 'v1') throw decryptFailed('unsupported version');
  if (!isKeyId(keyId)) throw decryptFailed('malformed key id');
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromBase64(payload, { alphabet: 'base64url' });
  } catch (err) {
    throw decryptFailed('payload is not base64url', err, { keyId });
  }
  if (bytes.length < NONCE_BYTES + TAG_BYTES)
    throw decryptFailed('payload is truncated', undefined, { keyId });
  return { version, keyId, nonce: bytes.subarray(0, NONCE_BYTES), sealed: bytes.subarray(NONCE_BYTES) };
}
