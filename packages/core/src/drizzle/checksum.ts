import { toHex, utf8Encode } from '../bytes.js';

/**
 * SHA-256 of the statements as one SQL text (`;\n`-joined), hex: Web Crypto, so it runs in Workers too.
 * @example await statementsChecksum(['CREATE TABLE "a" ()']); // '3f…' (64 hex digits)
 */
export async function statementsChecksum(statements: readonly string[]): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', utf8Encode(statements.join(';\n')));
  return toHex(new Uint8Array(digest));
}
