// Its own file: the engine catches it and the Drizzle L3 throws it; the engine must not load the L3.

/**
 * A write whose op named an epoch (`WriteOp.epoch`) found a later one started for its schema:
 * nothing was written. `epoch` is the schema's latest, for the writer to learn which counters its
 * app has now before it writes again.
 */
export class EpochMoved extends Error {
  constructor(readonly epoch: number) {
    super(`write-behind epoch ${epoch} has begun since: nothing was written`);
    this.name = 'EpochMoved';
  }
}
