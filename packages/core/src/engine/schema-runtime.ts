import type { ResolvedConfig } from '../config.js';
import type { Encryptor } from '../crypto/types.js';
import { toMs } from '../duration.js';
import { StrataError } from '../errors.js';
import { freezeRow } from '../l1/freeze-row.js';
import { createMemoryL1 } from '../l1/memory-l1.js';
import type { L1Tier } from '../l1/types.js';
import type { L2Tier } from '../l2/types.js';
import type { L3Tier, Row } from '../l3/types.js';
import type { CompiledSchema, WriteMode } from '../schema/types.js';
import { WriteFence } from './fence.js';
import { KeySpace } from './keys.js';
import { RowCodec } from './row-codec.js';

const GENERATION_REFRESH_MS = 5_000;

/** L1's "known absent" entry (negative caching). */
export const ABSENT: Readonly<{ absent: true }> = Object.freeze({ absent: true });
export type L1Value = Row | typeof ABSENT;

/** One registered schema with everything resolved: its tiers, TTLs, keys, fence and in-flight loads. */
export class SchemaRuntime {
  readonly rows: RowCodec;
  readonly l1: L1Tier<L1Value> | undefined;
  readonly l2: L2Tier | undefined;
  readonly l3: L3Tier | undefined;
  readonly keys: KeySpace;
  readonly l1TtlMs: number;
  readonly l2TtlMs: number;
  readonly negativeTtlMs: number;
  readonly writeMode: WriteMode;
  /** L1 cannot answer a whole cached row when some columns are kept out of it (omitL1). */
  readonly l1AnswersGets: boolean;
  readonly fence = new WriteFence();
  /** Loads below L1 in flight, by id: concurrent misses share one (request coalescing). */
  readonly inflight = new Map<string, Promise<Row | null>>();
  /** Writes that began in this instance, and those still running: a search fills caches only when
   * no write ran meanwhile or was running when it started. */
  writeEpoch = 0;
  writesInFlight = 0;
  /** Where search and count run: the schema's read replica, else L3. */
  readonly reader: L3Tier | undefined;
  #generation: Promise<number> | undefined;
  #generationAt = 0;
  /** A write committed to L3 whose L2 update failed: L2 may hold an older row for it. */
  #owesL2 = false;

  constructor(
    readonly schema: CompiledSchema,
    readonly config: ResolvedConfig,
    l2: L2Tier | undefined,
    encryptor: Promise<Encryptor> | undefined,
  ) {
    const { name } = schema;
    this.l2 = schema.l2 === false ? undefined : l2;
    this.l3 = schema.l3 === false ? undefined : config.l3;
    this.reader = (schema.l3 || undefined)?.readReplica ?? this.l3;
    if (!this.l2 && !this.l3) {
      throw new StrataError(
        'INVALID_CONFIG',
        `schema ${name} has neither L2 nor L3: nothing would persist it`,
        {
          details: { schema: name, field: 'l2' },
        },
      );
    }
    if (schema.encryptedKeys.length > 0 && !encryptor) {
      throw new StrataError(
        'INVALID_CONFIG',
        `schema ${name} has encrypted fields: set config.encryptionKey`,
        {
          details: { schema: name, field: 'encryptionKey' },
        },
      );
    }
    const l1Policy = schema.l1 === false ? undefined : (schema.l1 ?? {});
    const l2Policy = schema.l2 === false ? {} : (schema.l2 ?? {});
    this.l1TtlMs = toMs(l1Policy?.ttl ?? config.defaultL1TtlMs, `${name}.l1.ttl`);
    // With no L3, L2 is the source of truth: its entries must not expire unless the schema says so.
    this.l2TtlMs = toMs(l2Policy.ttl ?? (this.l3 ? config.defaultL2TtlMs : 0), `${name}.l2.ttl`);
    this.negativeTtlMs =
      schema.negativeTtl === undefined ? 0 : toMs(schema.negativeTtl, `${name}.negativeTtl`);
    this.writeMode = schema.writeMode ?? config.defaultWriteMode;
    if (this.writeMode === 'write-behind' && !(config.queue && this.l2 && this.l3)) {
      // L2 serves the write before the flush, L3 takes the flush, the queue holds it in between.
      throw new StrataError(
        'INVALID_CONFIG',
        `schema ${name}: write-behind needs config.queue, an L2 and an L3`,
        {
          details: { schema: name, field: 'writeMode' },
        },
      );
    }
    this.rows = new RowCodec(schema, config.codec, encryptor);
    this.keys = new KeySpace(config.keyPrefix, schema, config.codec.name);
    this.l1AnswersGets = schema.l1Keys.length === schema.l2Keys.length;
    const onEvict = schema.hooks.onEvict;
    this.l1 = l1Policy
      ? createMemoryL1<L1Value>({
          maxEntries: l1Policy.maxEntries ?? config.l1.maxEntries,
          eviction: l1Policy.eviction ?? config.l1.eviction,
          defaultTtlMs: this.l1TtlMs,
          clock: config.clock,
          ...(onEvict && {
            onEvict: (id, value, reason) => {
              if (value !== ABSENT) onEvict(id, value, reason);
            },
          }),
          onHookError: (err) =>
            config.logger.warn('onEvict hook threw', { schema: name, error: String(err) }),
        })
      : undefined;
  }

  /**
   * What L1 keeps: frozen (default) so no caller can change a cached value through a reference it
   * was handed; with `protect: 'copy'`, a private copy (and every hit hands out another copy).
   */
  protect(row: Row): Row {
    return this.config.l1.protect === 'freeze' ? freezeRow(row) : structuredClone(row);
  }

  /** What L1 keeps of a row just written: a decoded copy, never objects the caller still holds (L1 freezes). */
  ownL1Copy(plain: Row): L1Value {
    return this.protect(this.rows.toL1(this.rows.fromL2(this.rows.toL2(plain))));
  }

  /** What a caller receives from L1: the frozen entry itself, or a copy when `protect: 'copy'`. */
  handOut(row: Row): Row {
    return this.config.l1.protect === 'copy' ? structuredClone(row) : row;
  }

  /**
   * The schema's current L2 generation: read from L2 at most every 5 s (so an invalidateAll on
   * another instance reaches this one within 5 s even without a bus; with one, at once).
   */
  generation(): Promise<number> {
    if (!this.l2) return Promise.resolve(0);
    const now = this.config.clock.now();
    if (this.#owesL2) return this.#settleL2Debt(this.l2, now);
    if (this.#generation === undefined || now - this.#generationAt > GENERATION_REFRESH_MS) {
      this.#generationAt = now;
      this.#generation = this.l2.getCounter(this.keys.generationKey).catch((err: unknown) => {
        this.#generation = undefined;
        throw err;
      });
    }
    return this.#generation;
  }

  /**
   * Records that L2 missed a write that L3 committed (L2 was down or timed out), so it may still hold
   * the row as it was. Nothing can fix that key by key once L2 answers again (the failed call may
   * have been half-applied, and a crash forgets the list), so the next use of L2 moves the schema's
   * generation and search generation on instead: every row cached before is orphaned, on every
   * instance within the generation refresh (5 s), and refilled from L3.
   */
  owesL2(): void {
    this.#owesL2 = true;
  }

  get hasL2Debt(): boolean {
    return this.#owesL2;
  }

  #settleL2Debt(l2: L2Tier, now: number): Promise<number> {
    // Cleared now so that calls meanwhile share this promise; set again if L2 still refuses.
    this.#owesL2 = false;
    this.#generationAt = now;
    this.#generation = l2
      .setMany([], [this.keys.generationKey, this.keys.searchGenerationKey])
      .then(([generation]) => generation ?? 0)
      .catch((err: unknown) => {
        this.#owesL2 = true;
        this.#generation = undefined;
        throw err;
      });
    return this.#generation;
  }

  setGeneration(value: number): void {
    this.#generation = Promise.resolve(value);
    this.#generationAt = this.config.clock.now();
  }

  /** Forget the cached generation (another instance ran invalidateAll): the next use re-reads it. */
  resetGeneration(): void {
    this.#generation = undefined;
  }

  async l2Key(id: string): Promise<string> {
    return this.keys.row(await this.generation(), id);
  }
}
