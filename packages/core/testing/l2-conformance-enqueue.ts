import { expect, it } from 'vitest';
import { decodeEnvelope } from '../src/l2/envelope.js';
import type { L2Script } from '../src/l2/types.js';
import type { L2Suite } from './l2-conformance.js';
import { runOrderedPutEnqueue, runSeedCounter } from './l2-helpers.js';

/** The entries of a stream as `[field, value]` of each, read through the tier (no raw XRANGE needed). */
const ENTRIES: L2Script = {
  name: 'conformance-xrange',
  source: `local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do out[#out + 1] = e[2] end
return out`,
};

/** ORDERED_PUT_ENQUEUE: the write-behind `set` in one round trip when the queue's stream is in the same Redis. */
export function describeEnqueueScript(suite: L2Suite): void {
  const { key } = suite;
  const keys = (name: string) => ({
    counter: key(`${name}:counter`),
    search: key(`${name}:search`),
    stream: key(`${name}:stream`),
    field: 'w',
  });
  const entries = async (stream: string) => (await suite.l2.run(ENTRIES, [stream], [])) as string[][];

  it('XADDs each write as its head + version + "}", in key order, and writes the pending rows with the same versions', async () => {
    const k = keys('enq');
    await runSeedCounter(suite.l2, k.counter, 40);
    const rows = ['a', 'b'].map((id) => ({
      key: key(`enq:row:${id}`),
      kind: 'r' as const,
      payload: `{"id":"${id}"}`,
      head: `{"schema":"s","id":"${id}","op":"set","row":"{\\"id\\":\\"${id}\\"}","version":`,
    }));
    expect(await runOrderedPutEnqueue(suite.l2, k, rows)).toEqual([41, 1, 0, 0]);
    const written = await entries(k.stream);
    expect(written.map(([field]) => field)).toEqual(['w', 'w']);
    // A client that JSON-parses replies ('json-parsed') hands the entry over already parsed.
    expect(written.map(([, json]) => (typeof json === 'string' ? JSON.parse(json) : json))).toEqual([
      { schema: 's', id: 'a', op: 'set', row: '{"id":"a"}', version: 41 },
      { schema: 's', id: 'b', op: 'set', row: '{"id":"b"}', version: 42 },
    ]);
    const values = await suite.l2.getMany(rows.map((r) => r.key));
    expect(values.map((v) => [decodeEnvelope(v ?? '')?.version, decodeEnvelope(v ?? '')?.pending])).toEqual([
      [41, true],
      [42, true],
    ]);
    expect(await suite.raw.get(k.counter)).toBe('42');
  });

  it('a refusal (no counter, another generation) enqueues nothing', async () => {
    const k = keys('enq:refused');
    const row = { key: key('enq:refused:row'), kind: 'r' as const, payload: 'p', head: '{"version":' };
    expect(await runOrderedPutEnqueue(suite.l2, k, [row])).toEqual([-1]);
    await runSeedCounter(suite.l2, k.counter, 5);
    expect(await runOrderedPutEnqueue(suite.l2, k, [row], { generation: 9 })).toEqual([-4, 0]);
    expect(await entries(k.stream)).toEqual([]);
    expect(await suite.l2.getMany([row.key])).toEqual([null]);
    // A key that no longer holds its expected version (a partial write's compare-and-set): the same.
    const other = { ...row, key: key('enq:refused:other') };
    expect(await runOrderedPutEnqueue(suite.l2, k, [other, row], { expected: ['0', '3'] })).toEqual([-5]);
    expect(await entries(k.stream)).toEqual([]);
    expect(await suite.l2.getMany([other.key, row.key])).toEqual([null, null]);
    expect(await runOrderedPutEnqueue(suite.l2, k, [other, row], { expected: ['0', '0'] })).toEqual([
      6, 1, 0, 0,
    ]);
    expect(await entries(k.stream)).toHaveLength(2);
  });

  it('a stream key holding something else: the script fails before writing a row or taking a version', async () => {
    const k = keys('enq:wrongtype');
    await runSeedCounter(suite.l2, k.counter, 7);
    await suite.raw.set(k.stream, 'not a stream');
    const row = { key: key('enq:wrongtype:row'), kind: 'r' as const, payload: 'p', head: '{"version":' };
    await expect(runOrderedPutEnqueue(suite.l2, k, [row])).rejects.toThrow();
    expect(await suite.l2.getMany([row.key])).toEqual([null]);
    expect(await suite.raw.get(k.counter)).toBe('7');
    expect(await suite.raw.get(k.stream)).toBe('not a stream');
  });
}
