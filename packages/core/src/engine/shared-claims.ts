import { SHARE_WRITER_CLAIM } from '../l2/scripts.js';
import { randomHex } from '../random-id.js';
import type { EngineContext } from './context.js';
import type { SchemaCache } from './schema-cache.js';

/** The mode a schema claims its table in (see `L3Tier.claimWriter`). */
function claimMode(cache: SchemaCache): string {
  return cache.writeMode === 'write-behind' ? 'write-behind' : 'write-through';
}

/**
 * The writer claims of one app shared among its instances through L2 (see `WriterClaims`). Once an
 * instance's claim holds in Postgres it sets `{base}:writer` (bucket 0's, in the app's own key
 * namespace: another app never reads it) to the claim, expiring when that claim stops being
 * trusted: `trustMs` after it was SENT, as a duration on Redis' clock (never a timestamp: clocks
 * are skewed), so it always ends before the Postgres lease (60 s from Postgres' now, which is
 * later). Another instance of the app that has no claim of its own finds it in the generation read
 * its write makes anyway, and trusts it until it expires: no Postgres on its first write. A Redis
 * that lost it (a restart, a flush) only sends instances back to Postgres.
 *
 * The value names the mode, the table and the database (`L3Claim`): an instance of the app in the
 * other mode (a deploy changing it), or on another database under the same keyPrefix (refused L2),
 * does not trust it; nor does one that does not know its database yet (it reads no L2 until then).
 * An instance never trusts what it shared itself (its own lease already says as much).
 */
export class SharedClaims {
  readonly #self = randomHex(8);

  constructor(
    private readonly ctx: EngineContext,
    private readonly trustMs: number,
  ) {}

  /** How long (ms) a claim another instance shared is still trusted; undefined when none is. */
  async find(cache: SchemaCache): Promise<number | undefined> {
    const gen = cache.generation;
    if (!gen || !cache.l3) return undefined;
    let seen: { claim: string; ms: number } | undefined;
    try {
      seen = await gen.writerClaim();
    } catch (err) {
      // Not counted here: the write this claim is for reads the generation next and meets (counts,
      // refuses or tolerates) the same failure. The claim goes to Postgres.
      this.ctx.config.logger.debug('shared writer claim not read', {
        schema: cache.schema.name,
        error: String(err),
      });
      return undefined;
    }
    if (!seen) return undefined;
    let fields: unknown;
    try {
      fields = JSON.parse(seen.claim);
    } catch {
      return undefined; // not a claim this version shares: not trusted
    }
    const [mode, table, db, by] = Array.isArray(fields) ? fields : [];
    const ours = gen.claim?.known;
    if (table !== cache.schema.identity || by === this.#self) return undefined;
    if (ours === undefined || db !== ours) return undefined;
    if (mode === claimMode(cache)) return seen.ms;
    this.#bothModes(cache, String(mode));
    return undefined;
  }

  readonly #warned = new WeakSet<SchemaCache>();

  /**
   * Another instance of this app runs the table in the other mode (a rolling deploy switching
   * `writeMode`, a write-through API beside a write-behind worker). Their versions are ordered (a
   * write-through write takes its version from the app's counter: see `ThroughOrder`), so no write
   * is lost to an older one, and a write-through set that leaves columns out carries the columns of
   * its key's queued write-behind writes (`overPending`). Said once per schema: a handover is still
   * the simpler deploy (docs/semantics.md says what mixing the modes leaves open).
   */
  #bothModes(cache: SchemaCache, other: string): void {
    if (this.#warned.has(cache)) return;
    this.#warned.add(cache);
    this.ctx.config.logger.warn(
      `schema ${cache.schema.name}: another instance of this app writes table ${cache.schema.identity} ${other}, this one ${claimMode(cache)}: writes stay ordered, but prefer a handover (docs/semantics.md)`,
      { schema: cache.schema.name, modes: [other, claimMode(cache)] },
    );
  }

  /** Shares a claim that held in Postgres, sent at `sent` (this clock). Nothing waits for it. */
  share(cache: SchemaCache, sent: number): void {
    const gen = cache.generation;
    const l2 = cache.l2;
    if (!gen || !l2) return;
    const write = async () => {
      // Which database this is, so that an instance of another one never trusts it.
      const db = gen.claim ? gen.claim.known : '';
      // The keyPrefix not checked as this app's (see `L3Claim`), or refused as another database's
      // app's: nothing to vouch for, and no L2 key to write.
      if (db === undefined || gen.unchecked || gen.conflicted) return;
      const ms = Math.floor(this.trustMs - (this.ctx.config.clock.now() - sent));
      if (ms <= 0) return;
      const claim = JSON.stringify([claimMode(cache), cache.schema.identity, db, this.#self]);
      await l2.run(SHARE_WRITER_CLAIM, [cache.keys.writerKey], [claim, String(ms)]);
    };
    this.ctx.detach(cache.schema.name, 'l2', 'share writer claim', write());
  }
}
