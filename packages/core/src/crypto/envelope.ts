import { concatBytes, fromBase64, toBase64 } from '../bytes.js';
import { decryptFailed } from './failures.js';
import { isKeyId } from './keyring.js';

/** The format tag; a new layout gets a new one, so old values stay readable. */
const ENVELOPE_VERSION = 'v1';
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/** A parsed ciphertext: the key it names, the nonce, and the AES-GCM output (ciphertext + tag). */
export interface Envelope {
  readonly keyId: string;
  readonly nonce: Uint8Array<ArrayBuffer>;
  readonly sealed: Uint8Array<ArrayBuffer>;
}

/**
 * `v1.<keyId>.<base64url(nonce || sealed)>`: dots never occur in an id or in base64url, so the
 * value splits unambiguously, and it is safe in URLs, headers and text columns.
 *
 * @example formatEnvelope({ keyId: 'k0', nonce, sealed }); // 'v1.k0.q83v...'
 */
export function formatEnvelope({ keyId, nonce, sealed }: Envelope): string {
  return `${ENVELOPE_VERSION}.${keyId}.${toBase64(concatBytes(nonce, sealed), { alphabet: 'base64url' })}`;
}

/**
 * Splits a ciphertext into its parts, throwing `DECODE_FAILED` when it is not a v1 value. Says
 * nothing about authenticity: only decryption checks the tag.
 */
export function parseEnvelope(text: unknown): Envelope {
  if (typeof text !== 'string') throw decryptFailed(`expected a string, got ${typeof text}`);
  const parts = text.split('.');
  if (parts.length !== 3) throw decryptFailed('not a ciphertext (expected version.keyId.payload)');
  const [version, keyId, payload] = parts as [string, string, string];
  if (version !== ENVELOPE_VERSION) throw decryptFailed(`unsupported version (expected ${ENVELOPE_VERSION})`);
  if (!isKeyId(keyId)) throw decryptFailed('malformed key id');
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromBase64(payload, { alphabet: 'base64url' });
  } catch (err) {
    throw decryptFailed('payload is not base64url', err, { keyId });
  }
  if (bytes.length < NONCE_BYTES + TAG_BYTES)
    throw decryptFailed('payload is truncated', undefined, { keyId });
  return { keyId, nonce: bytes.subarray(0, NONCE_BYTES), sealed: bytes.subarray(NONCE_BYTES) };
}
