import type { BusHandlers, Invalidation } from '../src/bus/types.js';

/** Bus handlers that record what they are given, for tests of bus implementations. */
export interface BusProbe extends BusHandlers {
  messages: Invalidation[];
  gaps: number;
}

export function busProbe(): BusProbe {
  const p: BusProbe = {
    messages: [],
    gaps: 0,
    message: (inv) => p.messages.push(inv),
    gap: () => {
      p.gaps += 1;
    },
  };
  return p;
}

/** A one-id invalidation, and the ids a probe received in order. */
export const sampleInvalidation = (id: string): Invalidation => ({
  schema: 'users',
  ids: [id],
  op: 'set',
  origin: 'o',
});
export const receivedIds = (p: BusProbe) => p.messages.map((m) => m.ids?.[0]);
