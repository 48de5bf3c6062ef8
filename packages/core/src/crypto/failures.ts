import { StrataError } from '../errors.js';

// Messages and details carry key ids (validated, non-secret) and lengths: never key material,
// plaintext, or any part of an unparsed ciphertext (it may be a plaintext passed by mistake).

/** `INVALID_CONFIG` for a bad key or keyring. No cause: a parser's error could quote the key. */
export function invalidKeyConfig(why: string, details: Record<string, unknown> = {}): StrataError {
  return new StrataError('INVALID_CONFIG', `encryption keys: ${why}`, { details });
}

/** `DECODE_FAILED` for a value that cannot be decrypted; `cause` defaults to an `Error` saying why. */
export function decryptFailed(
  why: string,
  cause?: unknown,
  details: Record<string, unknown> = {},
): StrataError {
  return new StrataError('DECODE_FAILED', `cannot decrypt value: ${why}`, {
    cause: cause ?? new Error(why),
    details,
  });
}

/** `ENCODE_FAILED` for a value that cannot be encrypted. */
export function encryptFailed(
  why: string,
  cause?: unknown,
  details: Record<string, unknown> = {},
): StrataError {
  return new StrataError('ENCODE_FAILED', `cannot encrypt value: ${why}`, {
    cause: cause ?? new TypeError(why),
    details,
  });
}
