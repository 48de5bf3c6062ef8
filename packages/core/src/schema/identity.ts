/**
 * `chars` of `text` percent-encoded (`.` -> `%2E`). Callers always encode `%` too, so every `%` of
 * the result starts an escape and the encoding is undone unambiguously: one-to-one.
 */
export function percentEncode(text: string, chars: RegExp): string {
  return text.replace(chars, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/**
 * What the identity encodes in a table or Postgres schema name: `.` joins the two (so an
 * unqualified table `"a.b"` is `a%2Eb`, apart from table `b` of schema `a`), `*` starts the bus's
 * own names (`*tags:{keyPrefix}`: a table `*tags` was taken for the app's tag moves), `%` the escapes.
 */
const IDENTITY_CHARS = /[%.*]/g;

/**
 * A schema's identity: its qualified table, `{pgSchema}.{table}` or `{table}`, each part encoded
 * (see IDENTITY_CHARS), so distinct tables never share a `_strata_versions` row, a writer claim, a
 * bus or queue message. Names without `%`, `.` or `*` keep the identity they always had (rows and
 * messages of the Go library and of older instances stay the same).
 * @example tableIdentity('shop', 'players'); // 'shop.players'
 * @example tableIdentity(undefined, 'a.b'); // 'a%2Eb'
 */
export function tableIdentity(pgSchema: string | undefined, table: string): string {
  const name = percentEncode(table, IDENTITY_CHARS);
  return pgSchema === undefined ? name : `${percentEncode(pgSchema, IDENTITY_CHARS)}.${name}`;
}

/**
 * The qualified table as plain text (`a.b` for both `"a.b"` and `a.b`): what ciphertexts are bound
 * to (their additional data) since before the identity was encoded. Kept, so that stored ciphertext
 * of a table with such a name still decrypts; not an identity.
 */
export function plainTableName(pgSchema: string | undefined, table: string): string {
  return pgSchema === undefined ? table : `${pgSchema}.${table}`;
}
