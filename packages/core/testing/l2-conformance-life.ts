import { expect, it } from 'vitest';
import { LIFE_CHANGED, LIFE_SENTINEL } from '../src/l2/life-script.js';
import { DROP, MARK, ORDERED_PUT, PUT, RESERVE, RESERVE_THROUGH } from '../src/l2/scripts.js';
import { SHAPE_ALONE } from '../src/l2/shape-scripts.js';
import type { L2Script } from '../src/l2/types.js';
import type { L2Suite } from './l2-conformance.js';
import { envelope, generationKey, tickKey } from './l2-helpers.js';

/**
 * Every script that INCRs the tick, with the `LIFE` tail (the boot key, the marker its caller
 * knows): nothing written unless the boot marker is the one sent. Each case: the script, its KEYS
 * and ARGV for `k` (the key it writes; a counter for RESERVE*), and the key to look at afterwards.
 */
function cases(key: (suffix: string) => string) {
  const row = (name: string) => key(`life:${name}`);
  const put = (name: string) => {
    const k = row(name);
    return {
      script: PUT,
      keys: [tickKey(k), generationKey(k), k, key('life:shapes')],
      args: ['0', '1', '1', '0', envelope(1, 'v1'), 'shape-a', SHAPE_ALONE],
      written: k,
    };
  };
  const ordered = (name: string) => {
    const k = row(name);
    return {
      script: ORDERED_PUT,
      keys: [tickKey(k), generationKey(k), key(`life:${name}:ver`), key('life:sgen'), key('life:pending'), k],
      args: ['0', '0', '0', 'owner', 'r', '0', '0', 'payload', '', ''],
      written: k,
      counter: key(`life:${name}:ver`),
    };
  };
  const drop = (name: string) => {
    const k = row(name);
    return {
      script: DROP,
      keys: [tickKey(k), generationKey(k), k],
      args: ['0', '1', 'all', '0', ''],
      written: k,
    };
  };
  const mark = (name: string) => {
    const k = row(name);
    return {
      script: MARK,
      keys: [tickKey(k), generationKey(k), k],
      args: ['0', '1', '0', '5', envelope(5, '', { kind: 'x' })],
      written: k,
    };
  };
  const reserve = (name: string) => {
    const c = key(`life:${name}:ver`);
    return { script: RESERVE, keys: [tickKey(c), c], args: ['0', '1', '0'], written: c, counter: c };
  };
  const through = (name: string) => {
    const c = key(`life:${name}:ver`);
    return {
      script: RESERVE_THROUGH,
      keys: [tickKey(c), c, key(`life:${name}:vmark`)],
      args: ['0', '1', '0'],
      written: c,
      counter: c,
    };
  };
  return { put, ordered, drop, mark, reserve, through };
}

type Case = { script: L2Script; keys: string[]; args: string[]; written: string; counter?: string };

/** `LIFE` (l2/life-script.ts) in every tick script, through the tier. */
export function describeLifeScripts(suite: L2Suite): void {
  const { key } = suite;
  const all = cases(key);
  // Any key in the tick's slot: the script takes it from KEYS (the engine's is `{root}:boot`).
  const bootKey = (c: Case) => `${c.written}:boot`;
  const run = (c: Case, life?: string) =>
    suite.l2.run(
      c.script,
      life === undefined ? c.keys : [...c.keys, bootKey(c)],
      life === undefined ? c.args : [...c.args, life, LIFE_SENTINEL],
    ) as Promise<unknown[]>;

  for (const [name, make] of Object.entries(all)) {
    it(`${name}: writes nothing where the boot marker is gone or another, replying ${LIFE_CHANGED} and the marker there`, async () => {
      const c: Case = make(`${name}:refused`);
      const before = c.counter ? '7' : envelope(0, 'before');
      await suite.raw.set(c.written, before);
      const gone = await run(c, 'bknown');
      expect([Number(gone[1]), gone[2]]).toEqual([LIFE_CHANGED, '']);
      await suite.raw.set(bootKey(c), 'banother');
      const other = await run(c, 'bknown');
      expect([Number(other[1]), other[2]]).toEqual([LIFE_CHANGED, 'banother']);
      expect(Number(other[0])).toBe(Number(gone[0]) + 1); // the tick still moves on
      expect(await suite.raw.get(c.written)).toBe(before);
    });

    it(`${name}: runs as without the tail where the boot marker is the one sent, or with no tail`, async () => {
      for (const life of ['bknown', undefined]) {
        const c: Case = make(`${name}:kept:${life ?? 'untailed'}`);
        const before = c.counter ? '7' : envelope(0, 'before');
        await suite.raw.set(c.written, before);
        if (c.counter) await suite.raw.set(c.counter, '7');
        await suite.raw.set(bootKey(c), 'bknown');
        const reply = await run(c, life);
        expect(Number(reply[1])).toBe(0);
        expect(await suite.raw.get(c.written)).not.toBe(before);
      }
    });
  }
}
