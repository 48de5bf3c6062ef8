/**
 * A queue() invocation ends when its handler returns: what a flush left running then (its bus
 * publishes, deferred under createStrata's `background: 'track'`) may be stopped with it, and a
 * stopped publish is not "failed", so nothing sends it again. Here a write Postgres refuses (a CHECK
 * constraint Strata does not know) is acknowledged, read into another isolate's L1, then given up on
 * by a consumer built as a deployed Worker builds it (createStrata: Upstash L2 and log bus, Neon
 * HTTP L3). The log bus's XADD is held at a gate (global fetch wrapped, the real request sent once
 * it opens), so "handleWriteBatch returned before the withdrawal was published" is observed, not
 * inferred from timing.
 */
import { env } from 'cloudflare:workers';
import { neon } from '@neondatabase/serverless';
import type { Strata } from '@strata/core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createCloudflareQueue } from '../src/cloudflare/index.js';
import { createStrata } from '../src/index.js';
import { deliverBatch, keptQueue } from './support/kept-queue.js';
import { type WbTestTable, waitFor, wbTestTable } from './support/write-behind.js';

let t: WbTestTable;
const built: Strata[] = [];
const realFetch = globalThis.fetch;

beforeAll(async () => {
  t = await wbTestTable('wb_publish_settled');
  await neon(env.DATABASE_URL).query(
    `alter table "${t.table}" add constraint level_small check (level < 100)`,
  );
});
afterEach(() => {
  globalThis.fetch = realFetch;
});
afterAll(async () => {
  for (const strata of built) await strata.close();
  await t?.cleanup();
});

/** Another isolate: its own env object, so its own Strata (and L1), as createStrata builds it. */
function isolate(queue = keptQueue().producer): Strata {
  const strata = createStrata(
    { ...env },
    {
      schemas: [t.schema],
      keyPrefix: t.keyPrefix,
      writeBehind: { queue: createCloudflareQueue(queue), maxRetry: 2 },
      coherence: { pollInterval: 20 },
    },
  );
  built.push(strata);
  return strata;
}

/** Holds every log-bus XADD (an invalidation publish) until `open()`; then sends it for real. */
function holdPublishes() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let held = 0;
  globalThis.fetch = async (input, init) => {
    const body = typeof init?.body === 'string' ? init.body : '';
    if (body.startsWith('["XADD"') || body.startsWith('["xadd"')) {
      held += 1;
      await gate;
    }
    return realFetch(input, init);
  };
  return { open, held: () => held };
}

/** Whether `promise` settles within a few event-loop turns (each a real timer turn). */
async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.finally(() => {
    done = true;
  });
  for (let i = 0; i < 20 && !done; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return done;
}

it("a dead-lettered write's withdrawal is published before handleWriteBatch returns", async () => {
  const { bodies, producer } = keptQueue();
  const writer = isolate(producer);
  const reader = isolate();
  const consumer = isolate();
  await writer.set(t.schema, { id: 'p1', name: 'phantom', level: 500 }); // acknowledged, queued
  expect(await reader.find(t.schema, 'p1')).toMatchObject({ level: 500 }); // now in its L1

  expect(await deliverBatch(consumer, [bodies[0]], 1)).toEqual({ acked: 0, retried: 1 }); // a retry left
  const gate = holdPublishes();
  const last = deliverBatch(consumer, [bodies[0]], 2); // none left: given up on, withdrawn
  const early = await settlesSoon(last);
  expect(gate.held()).toBeGreaterThan(0); // the withdrawal's publish, at the gate
  expect(early).toBe(false);
  gate.open();
  expect(await last).toEqual({ acked: 0, retried: 1 }); // no deadLetter binding: the platform's
  globalThis.fetch = realFetch;

  // Every tier and Postgres: the phantom is gone from the reader's L1 too (it polls the log).
  expect(await t.row('p1')).toBeUndefined();
  await waitFor('reader drops the phantom', async () => (await reader.find(t.schema, 'p1')) === null);
  expect(await isolate().find(t.schema, 'p1')).toBeNull();
  expect(await writer.find(t.schema, 'p1')).toBeNull();
});
