import { toHex } from './bytes.js';

/**
 * `bytes` random bytes as lowercase hex (Web Crypto), for names that must never repeat.
 * @example randomHex(8); // 'a3f09c1e7b2d4c55'
 */
export function randomHex(bytes: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}
