/**
 * A write of unknown outcome (its L2 script timed out, see core's engine/conditional-writes.ts) is
 * queued on condition: version -1 and `conditional.until`, its script's deadline on Redis' clock.
 * Here such messages go through real Queue batches in workerd (the pool's `createMessageBatch`, and
 * Miniflare's broker to the fixture's `queue()`): one whose script landed (its pending row written,
 * its reply lost: a producer whose queue kept the message instead of sending it) is applied at the
 * version it landed at; one whose script never ran is dropped; one whose deadline is still ahead
 * waits (retried), never applied early. Every tier then agrees.
 */
import { env } from 'cloudflare:workers';
import type { Strata } from '@strata/core';
import type { QueuedWrite } from '@strata/core/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloudflareQueue } from '../src/cloudflare/index.js';
import { deliverBatch, keptQueue } from './support/kept-queue.js';
import { type ItemRow, type WbTestTable, waitFor, wbTestTable } from './support/write-behind.js';

let t: WbTestTable;

beforeAll(async () => {
  t = await wbTestTable('wb_conditional');
});
afterAll(() => t?.cleanup());

/** `body` (a producer's message) as the writer queues it when its script's reply did not come. */
const conditional = (body: unknown, until: number): QueuedWrite => ({
  ...(body as QueuedWrite),
  version: -1,
  conditional: { until },
});

/** A pending row in L2 that no message stands for: its writer's queue kept the message. */
async function landedUnqueued(id: string, name: string): Promise<{ writer: Strata; body: QueuedWrite }> {
  const { bodies, producer } = keptQueue();
  const writer = t.producer(producer);
  await writer.set(t.schema, { id, name, level: 1 });
  return { writer, body: bodies[0] as QueuedWrite };
}

/** What the writer, the consumer, a cold isolate and Postgres hold for `id`. */
async function everywhere(writer: Strata, consumer: Strata, id: string) {
  return [
    await writer.find(t.schema, id),
    await consumer.find(t.schema, id),
    await t.producer().find(t.schema, id),
    (await t.row(id)) ?? null,
  ];
}

const item = (id: string, name: string): ItemRow => ({ id, name, level: 1, note: null });
// Past on Redis' clock (the devstack's Redis runs on this machine).
const past = () => Date.now() - 1_000;

describe('a conditional write in a Queue batch', () => {
  it('whose script landed is applied at the version it landed at', async () => {
    const { writer, body } = await landedUnqueued('f1', 'landed');
    const consumer = t.producer();
    expect(await deliverBatch(consumer, [conditional(body, past())])).toEqual({ acked: 1, retried: 0 });
    expect(await everywhere(writer, consumer, 'f1')).toEqual(Array(4).fill(item('f1', 'landed')));
    expect(await t.version('f1')).toBe(body.version);
    expect(consumer.stats().conditionalDropped).toBe(0);
  });

  it('whose script never ran is dropped: nothing reaches Postgres or a cache', async () => {
    const writer = t.producer();
    const never = conditional(t.write('f2', 0, { name: 'never', level: 1 }), past());
    const consumer = t.producer();
    expect(await deliverBatch(consumer, [never])).toEqual({ acked: 1, retried: 0 });
    expect(await everywhere(writer, consumer, 'f2')).toEqual([null, null, null, null]);
    expect(consumer.stats().conditionalDropped).toBe(1);
  });

  it('whose deadline is still ahead waits (retried), and lands once it passed', async () => {
    const { writer, body } = await landedUnqueued('f3', 'later');
    const consumer = t.producer();
    // Far ahead: more than a flush waits for a deadline within its batch.
    expect(await deliverBatch(consumer, [conditional(body, Date.now() + 60_000)])).toEqual({
      acked: 0,
      retried: 1,
    });
    expect(await t.row('f3')).toBeUndefined();
    expect(await deliverBatch(consumer, [conditional(body, past())], 2)).toEqual({ acked: 1, retried: 0 });
    expect(await everywhere(writer, consumer, 'f3')).toEqual(Array(4).fill(item('f3', 'later')));
  });

  it("through the platform's queue: the fixture's queue() applies one that landed, drops one that did not", async () => {
    const { writer, body } = await landedUnqueued('f4', 'via-queue');
    const never = conditional(t.write('f5', 0, { name: 'never', level: 1 }), past());
    await createCloudflareQueue(env.WB).enqueue([conditional(body, past()), never]);
    await waitFor('f4 in Postgres', () => t.row('f4'));
    await waitFor('f5 acked', async () =>
      (await t.log()).some((e) => e.id === 'f5' && e.outcome === 'acked'),
    );
    expect(await t.row('f5')).toBeUndefined();
    expect(await everywhere(writer, t.producer(), 'f4')).toEqual(Array(4).fill(item('f4', 'via-queue')));
    expect(await t.version('f4')).toBe(body.version);
  });
});
