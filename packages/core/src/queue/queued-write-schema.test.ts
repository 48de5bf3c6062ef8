import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { decodeQueuedWrite, parseQueuedWrite, parseQueuedWrites } from './queued-write-schema.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('queued write validation', () => {
  it('keeps the known fields, drops unknown ones, and adds no row to a delete', () => {
    const write = parseQueuedWrite({ schema: 's', id: '1', op: 'delete', version: 2, extra: true });
    expect(write).toEqual({ schema: 's', id: '1', op: 'delete', version: 2 });
    expect('row' in write).toBe(false);
  });

  it("keeps the writer's keyPrefix, and reads a write without one (an older producer's)", () => {
    const write = {
      schema: 'tenant_a.items',
      keyPrefix: 'tenant_a',
      id: '1',
      op: 'delete',
      version: 2,
    } as const;
    expect(decodeQueuedWrite(JSON.stringify(write))).toEqual(write);
    const { keyPrefix: _, ...older } = write;
    expect('keyPrefix' in parseQueuedWrite(older)).toBe(false);
    expect(
      isStrataError(
        thrown(() => parseQueuedWrite({ ...write, keyPrefix: '' })),
        'VALIDATION_FAILED',
      ),
    ).toBe(true);
  });

  it('keeps `restored` only when it is true, and never refuses a write for it', () => {
    const write = { schema: 's', id: '1', op: 'set', row: '{}', version: 2 } as const;
    expect(parseQueuedWrite({ ...write, restored: true })).toEqual({ ...write, restored: true });
    expect(decodeQueuedWrite(JSON.stringify({ ...write, restored: true })).restored).toBe(true);
    for (const other of [false, 'yes', 1, null]) {
      const parsed = parseQueuedWrite({ ...write, restored: other });
      expect(parsed).toEqual(write);
      expect('restored' in parsed).toBe(false);
    }
  });

  it('keeps the queued writes beneath a partial set (the version Postgres must hold the key below, and their row unless a delete)', () => {
    const under = { below: 4, row: '{"note":"q"}', extra: 1 };
    expect(parseQueuedWrite({ schema: 's', id: '1', op: 'set', row: '{}', under, version: 5 })).toEqual({
      schema: 's',
      id: '1',
      op: 'set',
      row: '{}',
      under: { below: 4, row: '{"note":"q"}' },
      version: 5,
    });
    const overDelete = parseQueuedWrite({
      schema: 's',
      id: '1',
      op: 'set',
      row: '{}',
      under: { below: 4 },
      version: 5,
    });
    expect(overDelete.under).toEqual({ below: 4 });
    expect('row' in overDelete.under!).toBe(false);
    const bad = thrown(() =>
      parseQueuedWrite({ schema: 's', id: '1', op: 'set', row: '{}', under: { below: -1 }, version: 5 }),
    );
    expect((bad as Error).message).toMatch(/^strata: queued write: under\.below: /);
  });

  it("keeps a set's defaults (the columns only its insert sets), drops empty ones, refuses bad ones", () => {
    const write = { schema: 's', id: '1', op: 'set', row: '{"d":"fn"}', version: 5 } as const;
    expect(parseQueuedWrite({ ...write, defaults: ['d'] })).toEqual({ ...write, defaults: ['d'] });
    expect('defaults' in parseQueuedWrite({ ...write, defaults: [] })).toBe(false);
    const bad = thrown(() => parseQueuedWrite({ ...write, defaults: ['d', 1] }));
    expect((bad as Error).message).toMatch(/^strata: queued write: defaults\.1: /);
  });

  it('keeps a conditional write (version -1 with `until`), and refuses -1 without it or it with a version', () => {
    const set = { schema: 's', id: '1', op: 'set', row: '{}', version: -1, conditional: { until: 5 } };
    expect(parseQueuedWrite(set)).toEqual(set);
    expect(decodeQueuedWrite(JSON.stringify(set))).toEqual(set);
    const bad = (value: object) => {
      const err = thrown(() => parseQueuedWrite(value));
      expect(isStrataError(err, 'VALIDATION_FAILED')).toBe(true);
      return (err as Error).message;
    };
    // An older consumer (version >= 0 only) refuses a conditional write too: never applies it as -1.
    expect(bad({ ...set, conditional: undefined })).toMatch(/version: Too small/);
    expect(bad({ ...set, version: 3 })).toMatch(/version: a conditional write has version -1/);
    expect(bad({ ...set, conditional: { until: -1 } })).toMatch(/conditional\.until/);
  });

  it('names the bad field', () => {
    const error = thrown(() => parseQueuedWrite({ schema: 's', id: '1', op: 'set', version: 2 }));
    expect(isStrataError(error, 'VALIDATION_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/^strata: queued write: row: /);
  });

  it('a batch names the index of its first bad write', () => {
    const error = thrown(() => parseQueuedWrites([{ schema: 's', id: '1', op: 'delete', version: 1 }, {}]));
    expect(isStrataError(error, 'VALIDATION_FAILED')).toBe(true);
    expect((error as { details?: unknown }).details).toMatchObject({ index: 1 });
    expect((error as Error).message).toMatch(/^strata: writes\[1\]: /);
  });

  it('decodes the wire form and refuses text that is not JSON', () => {
    expect(decodeQueuedWrite('{"schema":"s","id":"1","op":"set","row":"{}","version":3}')).toEqual({
      schema: 's',
      id: '1',
      op: 'set',
      row: '{}',
      version: 3,
    });
    expect(
      isStrataError(
        thrown(() => decodeQueuedWrite('{nope')),
        'VALIDATION_FAILED',
      ),
    ).toBe(true);
    expect(
      isStrataError(
        thrown(() => decodeQueuedWrite('"a string"')),
        'VALIDATION_FAILED',
      ),
    ).toBe(true);
  });
});
