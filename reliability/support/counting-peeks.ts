import type { L2Tier } from '@strata/core';
import { DUE_PEEK } from '../../packages/core/src/l2/due-script.js';

/** `tier`, counting the DUE_PEEK requests (what settles a conditional write) it is asked to send. */
export function countingPeeks(tier: L2Tier): L2Tier & { peeks: number } {
  const counted = {
    name: tier.name,
    peeks: 0,
    getMany: (keys: readonly string[]) => tier.getMany(keys),
    run: (...call: Parameters<L2Tier['run']>) => {
      if (call[0].name === DUE_PEEK.name) counted.peeks += 1;
      return tier.run(...call);
    },
    close: () => tier.close(),
  };
  return counted;
}
