import { fromBase64, fromHex } from '../bytes.js';
import { invalidKeyConfig } from './failures.js';
import type { KeyMaterial, KeyringOptions } from './types.js';

/** AES-256: the only key size accepted. */
const KEY_BYTES = 32;
/** The id a lone key gets when none is given. */
const DEFAULT_KEY_ID = 'k0';
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const FORMATS = 'hex (64 characters) or base64/base64url (43-44 characters)';
/** Appended to a key's size or format error: what a key is, and one way to make one. */
const MAKE_ONE = '(32 random bytes as hex or base64, e.g. `openssl rand -base64 32`)';
/** A bare key is named by the option it came in, not by the id it gets inside ciphertexts. */
const LONE_KEY = 'encryptionKey';

/** Keys by id, raw, plus the one to encrypt under. The caller imports and then zeroes them. */
interface Keyring {
  readonly current: string;
  readonly keys: ReadonlyMap<string, Uint8Array<ArrayBuffer>>;
}

/** True for an id that may appear in a ciphertext (and so in messages): `[A-Za-z0-9_-]{1,32}`. */
export function isKeyId(id: unknown): id is string {
  return typeof id === 'string' && KEY_ID.test(id);
}

/**
 * Validates keyring options and decodes every key, throwing `INVALID_CONFIG` (without the key in
 * it) for anything off.
 *
 * @example readKeyring({ keys: { k1: oldHex, k2: newBase64 }, current: 'k2' });
 */
export function readKeyring(options: KeyringOptions | KeyMaterial): Keyring {
  if (typeof options === 'string' || options instanceof Uint8Array) {
    const bytes = keyBytes(options, DEFAULT_KEY_ID, LONE_KEY);
    return { current: DEFAULT_KEY_ID, keys: new Map([[DEFAULT_KEY_ID, bytes]]) };
  }
  if (typeof options !== 'object' || options === null || !('keys' in options)) {
    throw invalidKeyConfig('expected key material or { keys, current }');
  }
  const { keys, current } = options;
  if (current !== undefined && !isKeyId(current)) throw invalidKeyConfig(`current must match ${KEY_ID}`);
  if (typeof keys === 'string' || keys instanceof Uint8Array) {
    // A lone key takes its name from `current` when one is given.
    const id = current ?? DEFAULT_KEY_ID;
    return { current: id, keys: new Map([[id, keyBytes(keys, id)]]) };
  }
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) {
    throw invalidKeyConfig('keys must be key material or a record of id -> key material');
  }
  const ids = Object.keys(keys);
  for (const id of ids) if (!isKeyId(id)) throw invalidKeyConfig(`every key id must match ${KEY_ID}`);
  if (ids.length === 0) throw invalidKeyConfig('no keys given');
  if (current === undefined && ids.length > 1)
    throw invalidKeyConfig('current is required with several keys');
  const chosen = current ?? (ids[0] as string);
  if (!ids.includes(chosen)) throw invalidKeyConfig(`current key "${chosen}" is not among the keys`);
  const bytes = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const id of ids) bytes.set(id, keyBytes(keys[id], id));
  return { current: chosen, keys: bytes };
}

/**
 * The 32 bytes of one key, as a fresh copy the caller may zero. Strings are trimmed first, so a
 * trailing newline from an env file or secret store does not matter.
 */
function keyBytes(material: unknown, id: string, name = `key "${id}"`): Uint8Array<ArrayBuffer> {
  if (material instanceof Uint8Array) {
    if (material.length !== KEY_BYTES) {
      throw invalidKeyConfig(`${name} must be ${KEY_BYTES} bytes, got ${material.length} ${MAKE_ONE}`, {
        keyId: id,
        byteLength: material.length,
      });
    }
    return new Uint8Array(material);
  }
  if (typeof material !== 'string') {
    const type = material === null ? 'null' : typeof material;
    throw invalidKeyConfig(`${name} must be a Uint8Array or a string, got ${type}`, { keyId: id });
  }
  const bytes = decodeKeyText(material.trim());
  if (bytes === undefined) throw invalidKeyConfig(`${name} is not ${FORMATS} ${MAKE_ONE}`, { keyId: id });
  if (bytes.length !== KEY_BYTES) {
    const byteLength = bytes.length;
    bytes.fill(0);
    throw invalidKeyConfig(`${name} must decode to ${KEY_BYTES} bytes, got ${byteLength} ${MAKE_ONE}`, {
      keyId: id,
      byteLength,
    });
  }
  return bytes;
}

function decodeKeyText(text: string): Uint8Array<ArrayBuffer> | undefined {
  // 64 hex digits are also valid base64 (of 48 bytes), so hex must be tried first.
  if (HEX_KEY.test(text)) return fromHex(text);
  for (const alphabet of ['base64', 'base64url'] as const) {
    try {
      return fromBase64(text, { alphabet });
    } catch {
      // Try the next format; the error is dropped, not wrapped, as it describes the key text.
    }
  }
  return undefined;
}
