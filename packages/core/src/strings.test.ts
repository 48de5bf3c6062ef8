import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { codeAt, indexFrom, sliceFrom, startsAt } from './strings.js';

describe('string builtins called through strings.ts', () => {
  it('answer as the String.prototype methods do', () => {
    const s = 'é~1;r;😀';
    for (let i = -1; i <= s.length; i++)
      expect(Object.is(codeAt(s, i), s.charCodeAt(i)), String(i)).toBe(true);
    expect(Number.isNaN(codeAt('', 0))).toBe(true);
    expect(indexFrom(s, ';', 0)).toBe(s.indexOf(';', 0));
    expect(indexFrom(s, ';', 4)).toBe(s.indexOf(';', 4));
    expect(indexFrom(s, 'z', 0)).toBe(-1);
    expect(startsAt(s, '~1', 1)).toBe(true);
    expect(startsAt(s, '~1', 0)).toBe(false);
    expect(sliceFrom(s, 3)).toBe(s.slice(3));
    expect(sliceFrom(s, 1, 4)).toBe(s.slice(1, 4));
  });

  // The per-character loops of every L2 read: a `s.charCodeAt(i)` there is a full call in a process
  // that loaded ioredis (see strings.ts), 4x the time of the header read. Kept out by this check.
  it('are what the read path loops use, not s.charCodeAt', () => {
    const source = (file: string) => readFileSync(new URL(file, import.meta.url), 'utf8');
    const between = (text: string, from: string, to: string) => {
      const at = text.indexOf(from);
      expect(at, from).toBeGreaterThanOrEqual(0);
      return text.slice(at, text.indexOf(to, at + from.length));
    };
    const hot = [
      between(source('./l2/envelope.ts'), 'export class EnvelopeHeader', '\n}\n'),
      between(source('./codec/json-codec.ts'), 'export function isoUtcMillis', '\n}\n'),
      between(source('./bytes.ts'), 'function sextet', '\n}\n'),
    ];
    for (const code of hot) expect(code).not.toMatch(/\.(charCodeAt|indexOf|startsWith)\(/);
  });

  // A builtin held in a module constant is folded by V8 only while the binding is immutable, and the
  // bundler turns a top-level `const` into `var` (see strings.ts): each helper names its builtin
  // through `String.prototype` at the call, which stays a constant V8 inlines in the built package.
  it('name each builtin at the call, not through a module binding the bundle makes a var', () => {
    const source = readFileSync(new URL('./strings.ts', import.meta.url), 'utf8');
    const bodies = [...source.matchAll(/export function \w+\([^)]*\)[^{]*\{([^}]*)\}/g)].map((m) => m[1]!);
    expect(bodies.length).toBe(4);
    for (const body of bodies) expect(body).toMatch(/^\s*return String\.prototype\.\w+\.call\(s, /);
  });
});
