import type { ResolvedConfig } from '../config.js';
import { createAesGcmEncryptor } from '../crypto/aes-gcm-encryptor.js';
import type { Encryptor } from '../crypto/types.js';

/** The encryptor of the config's `encryptionKey` (the format `encryption.legacy` asks for), or none. */
export function configEncryptor(config: ResolvedConfig): Promise<Encryptor> | undefined {
  if (config.encryptionKey === undefined) return undefined;
  const encryptor = createAesGcmEncryptor(
    config.encryptionKey,
    config.encryption.legacy === 'write' ? 'v1' : 'v2',
  );
  // Surfaced on first use by the row codec; this only keeps an early rejection from going unhandled.
  encryptor.catch(() => {});
  return encryptor;
}
