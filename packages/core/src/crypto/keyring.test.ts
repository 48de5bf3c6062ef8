import { describe, expect, it } from 'vitest';
import { toBase64, toHex } from '../bytes.js';
import { isStrataError } from '../errors.js';
import { readKeyring } from './keyring.js';
import type { KeyMaterial, KeyringOptions } from './types.js';

const KEY = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);
const OTHER = Uint8Array.from({ length: 32 }, (_, i) => i * 3);

/** Every textual form a key (or a near-key) could leak in. */
function forms(bytes: Uint8Array): string[] {
  return [
    toHex(bytes),
    toHex(bytes).toUpperCase(),
    toBase64(bytes),
    toBase64(bytes, { alphabet: 'base64url' }),
    Array.from(bytes).join(','),
  ];
}

/** Everything an error exposes: message, stack, JSON, details, and the cause chain. */
function exposed(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      const { details } = current as { details?: unknown };
      parts.push(
        String(current),
        current.stack ?? '',
        JSON.stringify(current),
        JSON.stringify(details ?? null),
      );
      current = current.cause;
    } else {
      parts.push(String(current), JSON.stringify(current) ?? '');
      current = undefined;
    }
  }
  return parts.join('\n');
}

/** Fails if any 12-character window of `secret` appears in `text`. */
function expectNoLeak(text: string, secret: string) {
  for (let i = 0; i + 12 <= secret.length; i++) {
    expect(text.includes(secret.slice(i, i + 12)), `leaked ${secret.slice(i, i + 12)}`).toBe(false);
  }
}

function configError(options: KeyringOptions | KeyMaterial): unknown {
  try {
    readKeyring(options);
  } catch (err) {
    return err;
  }
  throw new Error('readKeyring did not throw');
}

describe('readKeyring', () => {
  it('reads one key as k0 from bytes, hex (either case), base64 and base64url', () => {
    for (const material of [KEY, toHex(KEY), toHex(KEY).toUpperCase(), ...forms(KEY).slice(2, 4)]) {
      const ring = readKeyring(material as KeyMaterial);
      expect(ring.current).toBe('k0');
      expect(ring.keys.get('k0')).toEqual(KEY);
    }
  });

  it('accepts unpadded base64 and ignores surrounding whitespace (env files end in newlines)', () => {
    expect(readKeyring(toBase64(KEY).replace(/=+$/, '')).keys.get('k0')).toEqual(KEY);
    expect(readKeyring(`  ${toHex(KEY)}\n`).keys.get('k0')).toEqual(KEY);
  });

  it('copies byte keys, so zeroing its copy leaves the caller intact', () => {
    const mine = KEY.slice();
    readKeyring(mine).keys.get('k0')?.fill(0);
    expect(mine).toEqual(KEY);
  });

  it('names a lone key after current, or after its record id', () => {
    expect(readKeyring({ keys: KEY, current: 'main' }).current).toBe('main');
    expect(readKeyring({ keys: KEY }).current).toBe('k0');
    const ring = readKeyring({ keys: { only: KEY } });
    expect(ring.current).toBe('only');
    expect([...ring.keys.keys()]).toEqual(['only']);
  });

  it('keeps every key of a keyring and encrypts under current', () => {
    const ring = readKeyring({ keys: { k1: KEY, 'k2_new-1': toHex(OTHER) }, current: 'k2_new-1' });
    expect(ring.current).toBe('k2_new-1');
    expect(ring.keys.get('k1')).toEqual(KEY);
    expect(ring.keys.get('k2_new-1')).toEqual(OTHER);
  });

  it.each<[string, KeyringOptions | KeyMaterial]>([
    ['a 31-byte key', KEY.subarray(1)],
    ['a 33-byte key', new Uint8Array(33)],
    ['an empty string', ''],
    ['hex of 31 bytes', toHex(KEY.subarray(1))],
    ['hex with a stray character', `${toHex(KEY).slice(0, 63)}g`],
    ['base64 of 48 bytes', toBase64(new Uint8Array(48).fill(255))],
    ['base64 with inner whitespace', `${toBase64(KEY).slice(0, 20)} ${toBase64(KEY).slice(20)}`],
    ['no keys', { keys: {} }],
    ['several keys without current', { keys: { a: KEY, b: OTHER } }],
    ['an unknown current', { keys: { a: KEY }, current: 'b' }],
    ['a malformed current', { keys: { a: KEY }, current: 'has.dot' }],
    ['a too long id', { keys: { ['x'.repeat(33)]: KEY } }],
    ['an id with a dot', { keys: { 'a.b': KEY } }],
    ['an array of keys', { keys: [KEY] as unknown as Record<string, KeyMaterial> }],
    ['a number', 42 as unknown as KeyMaterial],
    ['null', null as unknown as KeyMaterial],
    ['an object without keys', {} as KeyringOptions],
    ['a key of the wrong type', { keys: { a: 5 as unknown as KeyMaterial } }],
  ])('rejects %s with INVALID_CONFIG', (_label, options) => {
    expect(isStrataError(configError(options), 'INVALID_CONFIG')).toBe(true);
  });

  it('names a lone key by its option, encryptionKey, not its internal id, and says how to make one', () => {
    // A newcomer passes `encryptionKey: 'abc'` (or an env var holding a password): "k0" names nothing they wrote.
    const hint = '32 random bytes as hex or base64, e.g. `openssl rand -base64 32`';
    expect((configError('abc') as Error).message).toBe(
      `strata: encryption keys: encryptionKey must decode to 32 bytes, got 2 (${hint})`,
    );
    expect((configError('not a key!') as Error).message).toBe(
      `strata: encryption keys: encryptionKey is not hex (64 characters) or base64/base64url (43-44 characters) (${hint})`,
    );
    expect((configError(new Uint8Array(16)) as Error).message).toBe(
      `strata: encryption keys: encryptionKey must be 32 bytes, got 16 (${hint})`,
    );
    // A keyring's keys keep their ids: those are the names the caller wrote.
    expect((configError({ keys: { k1: KEY, k2: 'abc' }, current: 'k1' }) as Error).message).toBe(
      `strata: encryption keys: key "k2" must decode to 32 bytes, got 2 (${hint})`,
    );
  });

  it('never puts key material in an INVALID_CONFIG error, whatever the mistake', () => {
    const b64 = toBase64(KEY);
    const cases: [KeyringOptions | KeyMaterial, Uint8Array | string][] = [
      [KEY.subarray(0, 31), KEY.subarray(0, 31)],
      [concat(KEY, [7]), KEY],
      [`${toHex(KEY)}00`, KEY],
      [`${b64}!`, b64],
      [toBase64(concat(KEY, [1, 2, 3])), KEY],
      // A key pasted where an id belongs.
      [{ keys: { [b64]: KEY } }, b64],
      [{ keys: { k1: KEY }, current: toBase64(KEY, { alphabet: 'base64url' }) }, KEY],
      [{ keys: { k1: KEY, k2: `${toHex(OTHER)}zz` }, current: 'k1' }, OTHER],
    ];
    for (const [options, secret] of cases) {
      const text = exposed(configError(options));
      const secrets = typeof secret === 'string' ? [secret] : forms(secret);
      for (const s of secrets) expectNoLeak(text, s);
    }
  });
});

function concat(bytes: Uint8Array, extra: number[]): Uint8Array {
  return Uint8Array.from([...bytes, ...extra]);
}
