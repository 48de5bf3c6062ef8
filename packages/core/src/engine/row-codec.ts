import { fromBase64, toBase64 } from '../bytes.js';
import { encodeJsonFields, jsonCodec } from '../codec/json-codec.js';
import { jsonRoundTrip } from '../codec/json-round-trip.js';
import type { Codec } from '../codec/types.js';
import type { Encryptor } from '../crypto/types.js';
import { isStrataError, StrataError } from '../errors.js';
import type { Row } from '../l3/types.js';
import type { CompiledSchema } from '../schema/types.js';
import { type FieldBinding, fieldBinding, type LegacyBinding } from './field-binding.js';

/**
 * Moves rows between their three shapes: plaintext (the caller, L1), stored (L3: encrypted fields
 * as ciphertext) and cached (L2: the stored shape minus omitCache fields, encoded as one string).
 * Plaintext of an encrypted field never leaves the process: L2 and L3 only see ciphertext.
 */
export class RowCodec {
  /** Whether any field is encrypted: when not, a stored row is its plaintext (no decrypt to await). */
  readonly encrypts: boolean;

  constructor(
    readonly schema: CompiledSchema,
    readonly codec: Codec,
    readonly encryptor: Promise<Encryptor> | undefined,
    legacy: LegacyBinding = 'accept',
  ) {
    this.encrypts = schema.encryptedKeys.length > 0;
    this.#binding = fieldBinding(schema, legacy);
    this.#jsonFields = codec === jsonCodec && !schema.l2Keys.includes('__proto__');
  }

  /** The JSON codec, and no L2 column named `__proto__`: `toL2` encodes the columns without a copy first. */
  readonly #jsonFields: boolean;

  /**
   * Binds each ciphertext to its table, row and field, so it cannot be moved elsewhere (another
   * tenant's table of the same shape included) and still decrypt; see fieldBinding.
   */
  readonly #binding: FieldBinding;

  async encryptRow(plain: Row, id: string): Promise<Row> {
    const keys = this.schema.encryptedKeys;
    if (keys.length === 0) return plain;
    const encryptor = await this.#encryptor();
    const stored: Row = { ...plain };
    for (const key of keys) {
      const value = plain[key];
      if (typeof value === 'string')
        stored[key] = await encryptor.encrypt(value, this.#binding.seal(encryptor, id, key));
    }
    return stored;
  }

  /**
   * `stored` with each encrypted field that another key than the current one (or the legacy
   * binding) sealed, sealed again from `plain`: what an L2 fill writes, so a read that began before
   * `reencrypt` moved the row and fills late cannot put back a ciphertext that retiring the old key
   * (or refusing legacy values) makes unreadable.
   */
  async reseal(stored: Row, plain: Row, id: string): Promise<Row> {
    const encryptor = await this.#encryptor();
    const out = { ...stored };
    for (const key of this.schema.encryptedKeys) {
      const value = out[key];
      if (typeof value === 'string' && encryptor.needsReencrypt(value))
        out[key] = await encryptor.encrypt(plain[key] as string, this.#binding.seal(encryptor, id, key));
    }
    return out;
  }

  async decryptRow(stored: Row, id: string): Promise<Row> {
    const keys = this.schema.encryptedKeys;
    if (keys.length === 0) return stored;
    const encryptor = await this.#encryptor();
    const plain: Row = { ...stored };
    for (const key of keys) {
      const value = stored[key];
      if (typeof value === 'string') plain[key] = await this.#decrypt(encryptor, value, id, key);
    }
    return plain;
  }

  /**
   * One field; a failure names the schema, the field and the row (an outside write of plain text, a
   * value moved from another place, a legacy value refused).
   */
  async #decrypt(encryptor: Encryptor, value: string, id: string, key: string): Promise<unknown> {
    try {
      return await encryptor.decrypt(value, this.#binding.open(encryptor, value, id, key));
    } catch (cause) {
      if (!isStrataError(cause, 'DECODE_FAILED')) throw cause;
      const { name } = this.schema;
      throw new StrataError(
        'DECODE_FAILED',
        `schema ${name}: field ${key} of row ${id}: ${cause.message.replace(/^strata: /, '')}`,
        {
          cause,
          details: { ...cause.details, schema: name, field: key, id },
        },
      );
    }
  }

  /** The L2 string of a stored row: its L2 columns, encoded (base64 for a binary codec). */
  toL2(stored: Row): string {
    if (this.#jsonFields) return encodeJsonFields(stored, this.schema.l2Keys, this.schema.kinds);
    const data = this.codec.encode(pick(stored, this.schema.l2Keys), this.schema.kinds);
    return typeof data === 'string' ? data : toBase64(data);
  }

  /** A stored row (L2 columns only) from its L2 string. */
  fromL2(value: string): Row {
    const data = this.codec.format === 'binary' ? decodeBase64(value) : value;
    return this.codec.decode(data, this.schema.kinds);
  }

  /**
   * `fromL2(l2)` where `l2` is `toL2(stored)`: with the JSON codec built from `stored` (see
   * `jsonRoundTrip`), not parsed back; any other codec decodes `l2`.
   */
  fromEncoded(stored: Row, l2: string): Row {
    return (
      (this.codec === jsonCodec && jsonRoundTrip(stored, this.schema.l2Keys, this.schema.kinds)) ||
      this.fromL2(l2)
    );
  }

  /** A whole stored row (every column, ciphertext where encrypted) for a write-behind queue message. */
  toQueue(stored: Row): string {
    const data = this.codec.encode(stored, this.schema.kinds);
    return typeof data === 'string' ? data : toBase64(data);
  }

  /**
   * `toQueue(stored)` for a caller that already holds `l2 = toL2(stored)`: that very string when L2
   * keeps every column (no omitCache field), since a validated row has no key outside its columns
   * (the insert check refuses unknown keys) and so both encode the same fields; else encoded again.
   * A write-behind `set` encodes its row once instead of twice.
   */
  toQueueFromL2(stored: Row, l2: string): string {
    return this.schema.l2Keys.length === this.schema.columns.length ? l2 : this.toQueue(stored);
  }

  /** The stored row of a write-behind queue message. */
  fromQueue(value: string): Row {
    return this.fromL2(value);
  }

  /** What L1 keeps of a plaintext row. */
  toL1(plain: Row): Row {
    return this.schema.l1Keys.length === this.schema.columns.length ? plain : pick(plain, this.schema.l1Keys);
  }

  /** What callers get without `complete`: every column but omitCache ones. */
  toCachedView(plain: Row): Row {
    return this.schema.l2Keys.length === this.schema.columns.length ? plain : pick(plain, this.schema.l2Keys);
  }

  #encryptor(): Promise<Encryptor> {
    if (!this.encryptor) {
      throw new StrataError(
        'INVALID_CONFIG',
        `schema ${this.schema.name} has encrypted fields but no encryption key`,
        {
          details: { schema: this.schema.name, field: 'encryption' },
        },
      );
    }
    return this.encryptor;
  }
}

function pick(row: Row, keys: readonly string[]): Row {
  const out: Row = {};
  for (const key of keys) if (key in row) out[key] = row[key];
  return out;
}

function decodeBase64(value: string): Uint8Array {
  try {
    return fromBase64(value);
  } catch (cause) {
    throw new StrataError('DECODE_FAILED', 'L2 value is not valid base64', { cause });
  }
}
