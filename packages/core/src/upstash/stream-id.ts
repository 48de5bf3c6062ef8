/** The id before every stream entry: where a cursor starts when the stream does not exist yet. */
export const STREAM_START = '0-0';

/**
 * Orders two Redis stream entry ids (`<ms>-<seq>`) as number pairs: as strings, '9-0' would sort
 * after '10-0'. BigInt because a sequence number may exceed 2^53. Negative, 0 or positive.
 *
 * @example
 * compareStreamIds('9-0', '10-0'); // < 0
 * compareStreamIds('5-10', '5-9'); // > 0
 */
export function compareStreamIds(a: string, b: string): number {
  const [aMs, aSeq] = parseStreamId(a);
  const [bMs, bSeq] = parseStreamId(b);
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  if (aSeq !== bSeq) return aSeq < bSeq ? -1 : 1;
  return 0;
}

/** `<ms>-<seq>` (or a bare `<ms>`, which Redis reads as `<ms>-0`) as two BigInts; throws otherwise. */
export function parseStreamId(id: string): [bigint, bigint] {
  const match = /^(\d+)(?:-(\d+))?$/.exec(id);
  if (match === null) throw new TypeError(`not a stream entry id: ${JSON.stringify(id)}`);
  return [BigInt(match[1] ?? '0'), BigInt(match[2] ?? '0')];
}
