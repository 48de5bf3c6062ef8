import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { endOf, type LogCursor, nextLogStep } from './log-cursor.js';
import { type LogSnapshot, parseLogReply } from './log-script.js';
import { compareStreamIds, parseStreamId } from './stream-id.js';

describe('compareStreamIds', () => {
  it('orders ids as (ms, seq) number pairs, not as strings', () => {
    expect(compareStreamIds('9-0', '10-0')).toBeLessThan(0);
    expect(compareStreamIds('5-10', '5-9')).toBeGreaterThan(0);
    expect(compareStreamIds('5-1', '5-1')).toBe(0);
    expect(compareStreamIds('5', '5-0')).toBe(0);
    expect(compareStreamIds('1-18446744073709551615', '1-18446744073709551614')).toBeGreaterThan(0);
    expect(compareStreamIds('0-0', '1700000000000-0')).toBeLessThan(0);
  });

  it('throws on what is not an id', () => {
    for (const bad of ['', '-', '1-', 'a-1', '1-2-3', ' 1-0'])
      expect(() => parseStreamId(bad)).toThrow(TypeError);
  });
});

const log = (partial: Partial<LogSnapshot>): LogSnapshot => ({
  lastId: '10-0',
  maxDeletedId: '0-0',
  firstId: '1-0',
  entriesAdded: 10,
  length: 10,
  entries: [],
  ...partial,
});
const at = (id: string, added: number | undefined): LogCursor => ({ id, added });
const entry = (id: string) => ({ id, payload: '{}' });

describe('nextLogStep', () => {
  it('reads what follows the cursor and advances it by id and count', () => {
    const step = nextLogStep(at('8-0', 8), log({ entries: [entry('9-0'), entry('10-0')] }), 100);
    expect(step).toEqual({
      kind: 'read',
      cursor: at('10-0', 10),
      entries: [entry('9-0'), entry('10-0')],
      more: false,
    });
    expect(nextLogStep(at('10-0', 10), log({}), 100)).toMatchObject({ kind: 'read', cursor: at('10-0', 10) });
  });

  it('says more may wait when the page was full', () => {
    expect(nextLogStep(at('8-0', 8), log({ entries: [entry('9-0'), entry('10-0')] }), 2)).toMatchObject({
      more: true,
    });
  });

  const gaps: [string, LogCursor, Partial<LogSnapshot>][] = [
    ['the stream was deleted', at('5-0', 5), { lastId: '', firstId: '', entriesAdded: undefined, length: 0 }],
    ['the stream ends before the cursor (recreated)', at('20-0', 20), {}],
    ['the stream was given fewer entries than counted (recreated)', at('5-0', 12), {}],
    ['an entry after the cursor was deleted', at('5-0', 5), { maxDeletedId: '6-0', length: 9 }],
    ['trimmed past the cursor', at('5-0', 5), { firstId: '8-0', length: 3 }],
    ['trimmed to empty after the cursor', at('5-0', 5), { firstId: '', length: 0 }],
    ['from the start, something was trimmed', at('0-0', 0), { firstId: '2-0', length: 9 }],
    [
      'no entries-added: the first entry is after the cursor',
      at('5-0', undefined),
      { entriesAdded: undefined, firstId: '7-0' },
    ],
    [
      'no entries-added: empty but grown past the cursor',
      at('5-0', undefined),
      { entriesAdded: undefined, firstId: '', length: 0 },
    ],
  ];
  it.each(gaps)('a gap when %s: the cursor jumps to the end', (_label, cursor, partial) => {
    const snapshot = log(partial);
    const step = nextLogStep(cursor, snapshot, 100);
    expect(step).toEqual({ kind: 'gap', cursor: endOf(snapshot) });
  });

  const noGaps: [string, LogCursor, Partial<LogSnapshot>][] = [
    ['nothing was trimmed', at('5-0', 5), {}],
    ['only entries up to the cursor were trimmed', at('5-0', 5), { firstId: '6-0', length: 5 }],
    [
      'an entry before the cursor was deleted',
      at('5-0', 5),
      { maxDeletedId: '3-0', firstId: '1-0', length: 9 },
    ],
    [
      'no stream yet, and none before',
      at('0-0', 0),
      { lastId: '', firstId: '', entriesAdded: undefined, length: 0 },
    ],
    ['a stream created after subscribe', at('0-0', 0), {}],
    [
      'no entries-added: the cursor entry is still there',
      at('5-0', undefined),
      { entriesAdded: undefined, firstId: '5-0' },
    ],
  ];
  it.each(noGaps)('no gap when %s', (_label, cursor, partial) => {
    expect(nextLogStep(cursor, log(partial), 100).kind).toBe('read');
  });

  it('endOf: the last id and its count, or 0-0 with none for a missing stream', () => {
    expect(endOf(log({}))).toEqual(at('10-0', 10));
    expect(endOf(log({ lastId: '', entriesAdded: undefined }))).toEqual(at('0-0', 0));
  });
});

describe('parseLogReply', () => {
  it('reads the header and the tagged entries', () => {
    expect(parseLogReply(['9-0', '0-0', '1-0', '9', '9', '8-0', '~{"a":1}', '9-0', ''])).toEqual({
      lastId: '9-0',
      maxDeletedId: '0-0',
      firstId: '1-0',
      entriesAdded: 9,
      length: 9,
      entries: [
        { id: '8-0', payload: '{"a":1}' },
        { id: '9-0', payload: undefined },
      ],
    });
    expect(parseLogReply(['', '', '', '', ''])).toMatchObject({
      lastId: '',
      entriesAdded: undefined,
      length: 0,
    });
  });

  it('takes counts a JSON-parsing client turned into numbers', () => {
    expect(parseLogReply(['9-0', '0-0', '1-0', 9, 2])).toMatchObject({ entriesAdded: 9, length: 2 });
  });

  it('throws L2_UNAVAILABLE on a reply the script cannot have produced', () => {
    for (const bad of [null, 'x', ['1-0'], ['1-0', '0-0', '1-0', '1', '1', '1-0'], ['1-0', {}, '', '', '']]) {
      let error: unknown;
      try {
        parseLogReply(bad);
      } catch (e) {
        error = e;
      }
      expect(isStrataError(error, 'L2_UNAVAILABLE')).toBe(true);
    }
  });
});
