/** How a codec must treat a column's values so they come back with the type L3 gives them. */
export type ColumnKind = 'date' | 'bigint' | 'bytes' | 'json' | 'plain';

/** JS key -> kind, derived by the engine from the Drizzle table; lets a codec restore types JSON loses. */
export type ColumnKinds = Readonly<Record<string, ColumnKind>>;

/**
 * Turns a row into the bytes or text an L2 stores, and back. Rows are plain objects keyed by the
 * Drizzle column's JS key. JSON is the default; MessagePack is `@strata/core/msgpack`.
 *
 * @example
 * import { msgpackCodec } from '@strata/core/msgpack';
 * const codec: Codec = msgpackCodec;
 * const strata = new Strata({ l2, l3, codec });
 * codec.decode(codec.encode({ id: 1n }, { id: 'bigint' }), { id: 'bigint' }); // { id: 1n }
 */
export interface Codec {
  /** Stable short name, part of the L2 key fingerprint (changing codec never reads old bytes). */
  readonly name: string;
  /** 'text' codecs produce strings; 'binary' ones Uint8Array (an L2 over a text-only transport base64s them). */
  readonly format: 'text' | 'binary';
  encode(row: Readonly<Record<string, unknown>>, kinds: ColumnKinds): string | Uint8Array;
  decode(data: string | Uint8Array, kinds: ColumnKinds): Record<string, unknown>;
}
