import { decryptFailed } from '../crypto/failures.js';
import type { Encryptor } from '../crypto/types.js';
import { plainTableName } from '../schema/identity.js';
import type { CompiledSchema } from '../schema/types.js';

/** What Strata does with a value sealed with the legacy binding (`encryption.legacy`). */
export type LegacyBinding = 'write' | 'accept' | 'refuse';

/**
 * The additional data (AAD) that binds an encrypted field's ciphertext to its place: table, row and
 * field. A new value is bound to `JSON.stringify([identity, id, field])`: the identity is one to one
 * (an unqualified table `"S.items"` is `S%2Eitems`, table `items` of schema `S` is `S.items`) and JSON
 * keeps the parts apart (table `t:x` row `y` is not table `t` row `x:y`), so a ciphertext moved to
 * any other place fails to decrypt. A legacy value (the encryptor's `isLegacy`, `v1.`) was bound to
 * `{schema.table}:{id}:{field}` as plain text, which two such places share: it still decrypts there
 * unless `legacy` is 'refuse' (then DECODE_FAILED), until `reencrypt` binds it anew.
 */
export interface FieldBinding {
  /** The AAD a new value of `field` of row `id` is sealed with. */
  seal(encryptor: Encryptor, id: string, field: string): string;
  /** The AAD `ciphertext` was sealed with; DECODE_FAILED for a legacy value when they are refused. */
  open(encryptor: Encryptor, ciphertext: string, id: string, field: string): string;
}

/** The binding of `schema`'s encrypted fields (closures, not a class: fewer bytes in a Worker). */
export function fieldBinding(schema: CompiledSchema, legacy: LegacyBinding): FieldBinding {
  const { identity } = schema;
  const plainTable = plainTableName(schema.pgSchema, schema.tableName);
  const legacyAad = (id: string, field: string) => `${plainTable}:${id}:${field}`;
  return {
    // An encryptor that cannot mark its values gets the old binding, which it can read back; so
    // does one writing v1 values ('write': its encryptor was made so, see Strata's constructor).
    seal: (encryptor, id, field) =>
      encryptor.isLegacy && legacy !== 'write' ? JSON.stringify([identity, id, field]) : legacyAad(id, field),
    open(encryptor, ciphertext, id, field) {
      if (encryptor.isLegacy && !encryptor.isLegacy(ciphertext)) return JSON.stringify([identity, id, field]);
      if (legacy === 'refuse') {
        throw decryptFailed("a legacy (v1) value, refused by encryption.legacy 'refuse'", undefined, {
          binding: 'legacy',
        });
      }
      return legacyAad(id, field);
    },
  };
}
