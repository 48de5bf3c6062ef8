/**
 * `bytes` random bytes as lowercase hex (Web Crypto), for names that must never repeat.
 * @example randomHex(8); // 'a3f09c1e7b2d4c55'
 */
export function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
}
