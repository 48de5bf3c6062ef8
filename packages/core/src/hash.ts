/**
 * FNV-1a over the UTF-16 units of `text`, as an unsigned 32-bit integer: synchronous and tiny, for
 * names and tags that must be stable across instances (never a security boundary). `basis` gives
 * independent hashes of one text (two of them make a 64-bit name).
 * @example fnv1a('tenant_a.players').toString(36); // the owner tag inside L2 values
 */
export function fnv1a(text: string, basis = 0x811c9dc5): number {
  let hash = basis;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
