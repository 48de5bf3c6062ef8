import { describe, expect, it } from 'vitest';
import type { Logger } from '../observability/logger.js';
import type { Delivery, WriteRoute } from '../queue/types.js';
import { flushRouted } from './flush-routed.js';
import type { FlushOutcome } from './flusher.js';
import type { Strata } from './strata.js';

// The routing alone: each "Strata" here is the two methods flushRouted calls (flushes, flushBatch);
// the flush itself runs against the real tiers in reliability/test/probe-deploy-queue-routing.test.ts.
function tenant(keyPrefix: string, tables: readonly string[], fail?: Error) {
  const flushed: string[] = [];
  const strata = {
    flushes: (r: WriteRoute) =>
      (r.keyPrefix === undefined || r.keyPrefix === keyPrefix) && tables.includes(r.schema),
    async flushBatch(deliveries: readonly Delivery[]): Promise<FlushOutcome> {
      if (fail) throw fail;
      flushed.push(...deliveries.map((d) => d.handle));
      return {
        acked: deliveries.map((d) => d.handle),
        retried: [],
        held: [],
        withdrawing: [],
        foreign: [],
        dead: [],
      };
    },
  } as unknown as Strata;
  return { strata, flushed };
}
const delivery = (handle: string, schema: string, keyPrefix?: string): Delivery => ({
  handle,
  attempts: 0,
  write: { schema, id: 'k', op: 'delete', version: 1, ...(keyPrefix !== undefined && { keyPrefix }) },
});
function recording() {
  const lines: [string, string, Record<string, unknown> | undefined][] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push([level, message, fields]);
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { lines, logger };
}

describe('flushRouted', () => {
  it("gives each write to its keyPrefix's Strata; one none takes is retried, typed and logged, never applied", async () => {
    const a = tenant('a', ['items']);
    const b = tenant('b', ['items']);
    const { lines, logger } = recording();
    const outcome = await flushRouted(
      [a.strata, b.strata],
      [
        delivery('1', 'items', 'a'),
        delivery('2', 'items', 'b'),
        delivery('3', 'items', 'c'),
        delivery('4', 'items'),
      ],
      logger,
    );
    expect({ a: a.flushed, b: b.flushed }).toEqual({ a: ['1'], b: ['2'] });
    expect(outcome.acked).toEqual(['1', '2']);
    expect(outcome.retried).toEqual(['3', '4']);
    // '4': an older producer's message (no keyPrefix) whose table both tenants have.
    expect(outcome.unroutable.map((u) => [u.delivery.handle, u.error.code, u.error.details])).toEqual([
      ['3', 'SCHEMA_NOT_FOUND', { schema: 'items', keyPrefix: 'c' }],
      ['4', 'SCHEMA_NOT_FOUND', { schema: 'items', keyPrefix: null }],
    ]);
    expect(outcome.unroutable[1]!.error.message).toMatch(
      /without a keyPrefix.*2 Stratas here register that table/,
    );
    expect(lines.map(([level, , f]) => [level, f?.handle])).toEqual([
      ['warn', '3'],
      ['warn', '4'],
    ]);
  });

  it('asks a resolver once per route; a throwing resolver or a Strata without the table leaves the write unroutable', async () => {
    const a = tenant('a', ['items']);
    const asked: WriteRoute[] = [];
    const outcome = await flushRouted(
      (route) => {
        asked.push(route);
        if (route.keyPrefix === 'boom') throw new Error('no such tenant config');
        return route.keyPrefix === 'a' || route.keyPrefix === 'x' ? a.strata : undefined;
      },
      [
        delivery('1', 'items', 'a'),
        delivery('2', 'items', 'a'),
        delivery('3', 'items', 'boom'),
        delivery('4', 'items', 'x'),
      ],
      recording().logger,
    );
    expect(asked).toEqual([
      { schema: 'items', keyPrefix: 'a' },
      { schema: 'items', keyPrefix: 'boom' },
      { schema: 'items', keyPrefix: 'x' },
    ]);
    expect(a.flushed).toEqual(['1', '2']);
    expect(outcome.unroutable.map((u) => [u.delivery.handle, u.error.message.replace(/.*: /, '')])).toEqual([
      ['3', 'no such tenant config'],
      ['4', "the resolver's Strata does not register it"],
    ]);
    expect(outcome.unroutable[0]!.error.cause).toBeInstanceOf(Error);
  });

  it("retries the writes of a tenant whose flush throws, logged; the other tenants' writes settle", async () => {
    const a = tenant('a', ['items'], new Error('L3 down'));
    const b = tenant('b', ['items']);
    const { lines, logger } = recording();
    const outcome = await flushRouted(
      [a.strata, b.strata],
      [delivery('1', 'items', 'a'), delivery('2', 'items', 'b')],
      logger,
    );
    expect(outcome).toMatchObject({ acked: ['2'], retried: ['1'], held: ['1'], unroutable: [] });
    expect(lines).toMatchObject([
      ['error', expect.stringMatching(/flush failed/), { writes: 1, error: 'L3 down' }],
    ]);
  });

  it("flushes the tenants' shares at once: a tenant's flush does not wait for another's", async () => {
    const order: string[] = [];
    const [a, b] = [tenant('a', ['items']), tenant('b', ['items'])];
    for (const [name, t] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const flush = t.strata.flushBatch.bind(t.strata);
      Object.assign(t.strata, {
        flushBatch: async (d: readonly Delivery[]) => {
          order.push(`${name} started`);
          await Promise.resolve(); // a database round trip, as short as can be
          order.push(`${name} done`);
          return flush(d);
        },
      });
    }
    const outcome = await flushRouted(
      [a.strata, b.strata],
      [delivery('1', 'items', 'a'), delivery('2', 'items', 'b')],
      recording().logger,
    );
    // One after the other: ['a started', 'a done', 'b started', 'b done'].
    expect(order).toEqual(['a started', 'b started', 'a done', 'b done']);
    expect(outcome.acked).toEqual(['1', '2']);
  });
});
