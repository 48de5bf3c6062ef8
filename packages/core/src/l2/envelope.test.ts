import { describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  type Envelope,
  EnvelopeHeader,
  encodeEnvelope,
  GENERATION_ERA,
  isCurrent,
  ownerTag,
  remainingMs,
} from './envelope.js';

const OWNER = ownerTag('tenant_a.players');

function envelope(fields: Partial<Envelope> = {}): Envelope {
  return {
    kind: 'r',
    pending: false,
    version: 7,
    generation: 0,
    expiresAt: 0,
    freshUntil: 0,
    owner: OWNER,
    payload: '{"id":"p1"}',
    ...fields,
  };
}

/** Payloads holding the envelope's own separators, a whole header, or nothing. */
const PAYLOADS = [
  '',
  ';',
  ';;;;;;;;',
  '~',
  '~1;r;0;999;0;0;other;nested',
  '{"note":"a;b~c","list":[";",";;"]}',
  'émoji 🚀; 日本語; ~tilde',
  'a\u0000;b\r\n',
  'x'.repeat(100_000),
];

describe('encodeEnvelope / decodeEnvelope', () => {
  it('writes the documented format', () => {
    expect(encodeEnvelope(envelope())).toBe(`~1;r;0;7;0;0;0;${OWNER};{"id":"p1"}`);
    expect(
      encodeEnvelope(
        envelope({
          kind: 'a',
          pending: true,
          version: 12,
          generation: 4,
          expiresAt: 1_700_000_000_500,
          freshUntil: 1_700_000_000_000,
        }),
      ),
    ).toBe(`~1;a;1;12;4;1700000000500;1700000000000;${OWNER};{"id":"p1"}`);
  });

  it('round-trips every kind, pending flag, expiry and payload', () => {
    for (const kind of ['r', 'a', 'l', 'x'] as const) {
      for (const pending of [false, true]) {
        for (const payload of PAYLOADS) {
          const fields = envelope({
            kind,
            pending,
            payload,
            expiresAt: 1_900_000_000_000,
            freshUntil: 1_899_999_999_000,
          });
          expect(decodeEnvelope(encodeEnvelope(fields))).toEqual(fields);
        }
      }
    }
  });

  it('takes the payload as everything after the eighth `;`, separators and headers included', () => {
    const decoded = decodeEnvelope(`~1;l;0;3;0;0;0;${OWNER};~1;r;1;99;0;0;0;x;;;`);
    expect(decoded?.kind).toBe('l');
    expect(decoded?.version).toBe(3);
    expect(decoded?.payload).toBe('~1;r;1;99;0;0;0;x;;;');
  });

  it('keeps versions and times up to 2^53 - 1 exact, and refuses larger ones', () => {
    for (const version of [
      0,
      2 ** 40 * 8000,
      2 ** 40 * 8000 + 1,
      Number.MAX_SAFE_INTEGER - 1,
      Number.MAX_SAFE_INTEGER,
    ]) {
      const text = encodeEnvelope(envelope({ version }));
      expect(text).toContain(`;${BigInt(version)};`);
      expect(decodeEnvelope(text)?.version).toBe(version);
    }
    expect(encodeEnvelope(envelope({ version: 2 ** 40 * 8000 + 1 }))).toContain(';8796093022208001;');
    const far = encodeEnvelope(
      envelope({ expiresAt: Number.MAX_SAFE_INTEGER, freshUntil: Number.MAX_SAFE_INTEGER }),
    );
    expect(decodeEnvelope(far)?.expiresAt).toBe(Number.MAX_SAFE_INTEGER);
    expect(decodeEnvelope(`~1;r;0;9007199254740992;0;0;${OWNER};p`)).toBeUndefined();
    expect(decodeEnvelope(`~1;r;0;7;9007199254740993;0;${OWNER};p`)).toBeUndefined();
    expect(decodeEnvelope(`~1;r;0;7;0;1e400;${OWNER};p`)).toBeUndefined();
  });

  it('refuses values in another format and malformed headers', () => {
    const refused = [
      '',
      'plain text',
      '{"id":"p1"}',
      '42',
      '~',
      '~1',
      '~1;',
      '1;r;0;7;0;0;o;p',
      '~2;r;0;7;0;0;o;p',
      '~10;r;0;7;0;0;o;p',
      ' ~1;r;0;7;0;0;o;p',
      // Too few fields: the owner's `;` is missing, so there is no payload.
      '~1;r;0;7;0;0;o',
      '~1;r;0;7',
      // Kinds other than r, a, l, x (a later kind reads as a miss, as x did before it existed).
      '~1;z;0;7;0;0;0;o;p',
      '~1;;0;7;0;0;o;p',
      '~1;rr;0;7;0;0;o;p',
      '~1;R;0;7;0;0;o;p',
      // Versions and times that are not non-negative safe integers.
      '~1;r;0;-1;0;0;o;p',
      '~1;r;0;1.5;0;0;o;p',
      '~1;r;0;abc;0;0;o;p',
      '~1;r;0;Infinity;0;0;o;p',
      '~1;r;0;NaN;0;0;o;p',
      '~1;r;0;7;1.5;0;o;p',
      '~1;r;0;7;0;soon;o;p',
    ];
    for (const value of refused) expect(decodeEnvelope(value), JSON.stringify(value)).toBeUndefined();
  });

  /*
   * Headers nothing writes, which the L2 scripts' header pattern (`^~1;(%a);(%d);(%d+);`) reads as
   * foreign values: the decoder must agree, taking digits only and 0/1 for the flag.
   */
  const lenient: [string, string][] = [
    ['an empty version', '~1;r;0;;0;0;o;p'],
    ['an empty expiresAt and freshUntil', '~1;r;0;7;;;o;p'],
    ['a version in exponent notation', '~1;r;0;1e3;0;0;o;p'],
    ['a version with a leading space', '~1;r;0; 7;0;0;o;p'],
    ['a version with a plus sign', '~1;r;0;+7;0;0;o;p'],
    ['a hexadecimal version', '~1;r;0;0x10;0;0;o;p'],
    ['a negative expiresAt', '~1;r;0;7;-5;0;o;p'],
    ['a pending flag other than 0 or 1', '~1;r;x;7;0;0;o;p'],
  ];
  for (const [what, value] of lenient) {
    it(`refuses ${what}`, () => {
      expect(decodeEnvelope(value)).toBeUndefined();
    });
  }
});

describe('EnvelopeHeader', () => {
  it('reads value after value in place as decodeEnvelope does, nothing kept from the one before', () => {
    const h = new EnvelopeHeader();
    const values = [
      encodeEnvelope(envelope({ kind: 'a', pending: true, version: 9, generation: 3, payload: '' })),
      'not an envelope',
      encodeEnvelope(envelope({ expiresAt: 1_796_390_263_100, freshUntil: 1_796_390_263_000 })),
      `~1;r;0;7;0;0;${OWNER}`,
      encodeEnvelope(envelope({ kind: 'x', version: Number.MAX_SAFE_INTEGER, owner: `${OWNER}.42` })),
      ...PAYLOADS.map((payload) => encodeEnvelope(envelope({ kind: 'l', payload }))),
    ];
    for (const value of values) {
      const e = decodeEnvelope(value);
      expect(h.read(value), value.slice(0, 60)).toBe(e !== undefined);
      if (!e) continue;
      const { kind, pending, version, generation, expiresAt, freshUntil } = h;
      expect({ kind, pending, version, generation, expiresAt, freshUntil }).toEqual({
        kind: e.kind,
        pending: e.pending,
        version: e.version,
        generation: e.generation,
        expiresAt: e.expiresAt,
        freshUntil: e.freshUntil,
      });
      expect(value.slice(h.ownerAt, h.payloadAt - 1)).toBe(e.owner);
      expect(value.slice(h.payloadAt)).toBe(e.payload);
    }
  });

  it('compares the owner where it stands: the whole field, not a prefix of it', () => {
    const h = new EnvelopeHeader();
    const value = encodeEnvelope(envelope({ owner: `${OWNER}.17` }));
    expect(h.read(value)).toBe(true);
    expect(h.ownerIs(value, `${OWNER}.17`)).toBe(true);
    expect(h.ownerIs(value, OWNER)).toBe(false);
    expect(h.ownerIs(value, `${OWNER}.170`)).toBe(false);
    expect(h.ownerIs(value, '')).toBe(false);
  });
});

describe('remainingMs', () => {
  it('is 0 for no expiry, else the time left (negative once past)', () => {
    expect(remainingMs(envelope({ expiresAt: 0 }), 1_000)).toBe(0);
    expect(remainingMs(envelope({ expiresAt: 1_500 }), 1_000)).toBe(500);
    expect(remainingMs(envelope({ expiresAt: 1_000 }), 1_200)).toBe(-200);
  });
});

describe('ownerTag', () => {
  it('is stable: the same identity gives the same tag in every process and release', () => {
    // Pinned: a changed hash would make every value already in L2 read as another schema's.
    expect(ownerTag('tenant_a.players')).toBe('13v3jc5');
    expect(ownerTag('tenant_b.players')).toBe('1vkyevw');
    expect(ownerTag('players')).toBe('1awo009');
    expect(ownerTag('schéma.名前')).toBe('i8fcxm');
    expect(ownerTag('tenant_a.players')).toBe(ownerTag('tenant_a.players'));
  });

  it('tells identities apart and never contains a separator', () => {
    const identities = [
      'players',
      'public.players',
      'tenant_a.players',
      'tenant_b.players',
      'tenant_a.player',
      '',
    ];
    const tags = identities.map(ownerTag);
    expect(new Set(tags).size).toBe(identities.length);
    for (const tag of tags) expect(tag).toMatch(/^[0-9a-z]{1,7}$/);
    const fields = envelope({ owner: ownerTag('tenant_b.players') });
    expect(decodeEnvelope(encodeEnvelope(fields))?.owner).toBe('1vkyevw');
  });
});

describe('isCurrent', () => {
  const E = GENERATION_ERA;
  it('takes its own generation and newer; an older one only for a pending row of the same era', () => {
    const at = (generation: number, pending: boolean) => envelope({ generation, pending });
    expect(isCurrent(at(E + 3, false), E + 3)).toBe(true);
    expect(isCurrent(at(E + 4, false), E + 3)).toBe(true);
    expect(isCurrent(at(E + 2, false), E + 3)).toBe(false); // invalidateAll orphaned it
    expect(isCurrent(at(E + 2, true), E + 3)).toBe(true); // a pending row survives it
    expect(isCurrent(at(E, true), E + 3)).toBe(true);
    expect(isCurrent(at(E - 1, true), E + 3)).toBe(false); // a hard move orphaned it
    expect(isCurrent(at(5, true), 2 * E)).toBe(false);
  });
});
