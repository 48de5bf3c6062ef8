import { createHash } from 'node:crypto';
import type { L2Script } from '@strata/core/driver';

const shas = new WeakMap<L2Script, string>();

/** The script's SHA-1, what EVALSHA names it by; computed once per script object. */
export function scriptSha(script: L2Script): string {
  let sha = shas.get(script);
  if (sha === undefined) {
    sha = createHash('sha1').update(script.source).digest('hex');
    shas.set(script, sha);
  }
  return sha;
}
