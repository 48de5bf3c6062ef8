/**
 * Turns ioredis replies into the JSON text Upstash puts in `result`.
 *
 * Connections run with `callBuffer` and `stringNumbers`, so bulk and status replies arrive as Buffers
 * (binary-exact) and integer replies as decimal strings. That lets integers be written as exact JSON numbers,
 * even past 2^53, and every other string be base64-encoded from its raw bytes when the client asks for it.
 */

const INTEGER = /^-?\d+$/;

/**
 * JSON text for the `result` of one command.
 *
 * With `base64`, every string (recursively) is base64 of its raw bytes, except a top-level `"OK"`: real Upstash
 * sends that status unencoded and `@upstash/redis` passes it through untouched. Inside arrays the client
 * base64-decodes every string, so an `OK` there must be encoded like any other.
 * Without `base64` strings are UTF-8 text (invalid sequences become U+FFFD).
 */
function encodeResult(reply: unknown, base64: boolean): string {
  if (Buffer.isBuffer(reply) && reply.length === 2 && reply.toString('latin1') === 'OK') return '"OK"';
  return encodeValue(reply, base64);
}

/** JSON text of a whole response body: `{"result": …}` or `{"error": "…"}`. */
export function resultBody(reply: unknown, base64: boolean): string {
  return `{"result":${encodeResult(reply, base64)}}`;
}

export function errorBody(message: string): string {
  return JSON.stringify({ error: message });
}

function encodeValue(value: unknown, base64: boolean): string {
  if (value === null || value === undefined) return 'null';
  if (Buffer.isBuffer(value))
    return JSON.stringify(base64 ? value.toString('base64') : value.toString('utf8'));
  if (typeof value === 'string') return INTEGER.test(value) ? value : encodeText(value, base64);
  if (typeof value === 'number')
    return Number.isFinite(value) ? String(value) : encodeText(String(value), base64);
  if (typeof value === 'bigint') return value.toString();
  // Only RESP3 has booleans; Upstash speaks RESP2 where they are integers.
  if (typeof value === 'boolean') return value ? '1' : '0';
  // An error nested in an array (e.g. a Lua table holding redis.error_reply) has no JSON form: keep its text.
  if (value instanceof Error) return encodeText(value.message, base64);
  if (Array.isArray(value)) return `[${value.map((item) => encodeValue(item, base64)).join(',')}]`;
  if (value instanceof Map) return encodeValue(flattenEntries(value.entries()), base64);
  if (value instanceof Set) return encodeValue([...value], base64);
  // ioredis reply transformers (HGETALL & co.) build objects; Upstash clients expect the flat RESP2 `[k, v, …]`.
  if (typeof value === 'object') return encodeValue(flattenEntries(Object.entries(value)), base64);
  return encodeText(String(value), base64);
}

function encodeText(text: string, base64: boolean): string {
  return JSON.stringify(base64 ? Buffer.from(text, 'utf8').toString('base64') : text);
}

function flattenEntries(entries: Iterable<[unknown, unknown]>): unknown[] {
  const flat: unknown[] = [];
  for (const [key, value] of entries) {
    // Keys become Buffers so a field named "1" is not mistaken for an integer reply.
    flat.push(typeof key === 'string' ? Buffer.from(key, 'utf8') : key, value);
  }
  return flat;
}
