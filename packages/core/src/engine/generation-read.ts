import { GENERATION } from '../l2/scripts.js';
import { searchSeed } from '../l2/search-generation.js';
import type { L2Tier } from '../l2/types.js';
import type { KeySpace } from './keys.js';
import { L3_CLAIM_TTL_MS } from './l3-claim.js';

/**
 * Sends a generation read (the GENERATION script): in one request the generation and what each
 * read learns with it (the boot marker and tick, the keyPrefix claim, live shapes, the writer
 * claim, the write-behind counter). `identity` is L3's ('' without it: see `SchemaGeneration.#read`).
 */
export function sendGenerationRead(
  l2: L2Tier,
  keys: KeySpace,
  marker: string,
  identity: string,
): Promise<unknown> {
  const scriptKeys = [
    keys.generationKey,
    keys.bootKey,
    keys.tickKey,
    keys.l3ClaimKey,
    keys.shapesKey,
    keys.searchGenerationKey,
    keys.writerKey,
    keys.versionKey,
    keys.pendingIndex,
  ];
  const args = [marker, identity, String(L3_CLAIM_TTL_MS), keys.shape];
  scriptKeys.push(keys.baseClaimKey);
  args.push(identity && identity + keys.claimTag, searchSeed());
  return l2.run(GENERATION, scriptKeys, args);
}
