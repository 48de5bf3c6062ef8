import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { freePort } from '@strata/devstack';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { applyChanges, reencrypt } from '../src/admin.js';
import { defineSchema, isStrataError, type Scheduler, Strata, type StrataConfig } from '../src/index.js';
import { openTelemetryTracing } from '../src/otel/index.js';
import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { createUpstashL2 } from '../src/upstash/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// Strata's spans through @opentelemetry/api into the real SDK (in-memory exporter, the
// AsyncLocalStorage context manager Node's SDK registers): names, parents and attributes.
let stack: EngineStack;
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
const tracer = provider.getTracer('test');

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  stack = await engineStack('otel_tracing');
  players = defineSchema({ table: stack.tables.players });
});
afterAll(async () => {
  await stack?.cleanup();
  await provider.shutdown();
  context.disable();
});
beforeEach(() => exporter.reset());

let players: ReturnType<typeof defineSchema>;
const opened: Strata[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});
function strataOf(config: StrataConfig = {}): Strata {
  const strata = new Strata({
    l2: stack.l2,
    l3: stack.l3,
    keyPrefix: stack.keyPrefix,
    schemas: [players],
    tracing: openTelemetryTracing(tracer),
    ...config,
  });
  opened.push(strata);
  return strata;
}

/** The spans finished since the last reset, and each one's children, by name. */
function finished() {
  const spans = exporter.getFinishedSpans();
  const named = (name: string) => spans.filter((s) => s.name === name);
  const one = (name: string): ReadableSpan => {
    const found = named(name);
    expect(found.map((s) => s.name)).toEqual([name]);
    return found[0]!;
  };
  const children = (parent: ReadableSpan) =>
    spans
      .filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId)
      .map((s) => s.name)
      .sort();
  return { spans, named, one, children };
}

it('an L1 hit: one strata.get span, tier l1, hit, no remote call under it', async () => {
  const strata = strataOf();
  await strata.migrate();
  await strata.set(players, { id: 't1', username: 'ada' });
  exporter.reset();
  expect((await strata.get(players, 't1')).username).toBe('ada');
  const { spans, one } = finished();
  expect(spans.map((s) => s.name)).toEqual(['strata.get']);
  const get = one('strata.get');
  expect(get.kind).toBe(0); // SpanKind.INTERNAL
  expect(get.attributes).toEqual({
    'strata.op': 'get',
    'strata.schema': players.name,
    'strata.tier': 'l1',
    'strata.hit': true,
    'strata.stale': false,
  });
  expect(get.status.code).toBe(0); // UNSET
});

it('an L2 hit: the get span is the parent of one L2 read, tier l2, hit', async () => {
  const strata = strataOf();
  await strata.set(players, { id: 't2', username: 'bob' });
  // Another instance: its L1 is empty, L2 holds the row. Its first read also learns the schema's
  // L2 generation and which database L3 is (spans of their own): done before the one looked at.
  const reader = strataOf();
  await reader.find(players, 'warm-up');
  exporter.reset();
  await reader.get(players, 't2');
  const { one, children, named } = finished();
  const get = one('strata.get');
  expect(get.attributes).toMatchObject({ 'strata.tier': 'l2', 'strata.hit': true, 'strata.stale': false });
  expect(children(get)).toEqual(['strata.l2.getMany']);
  const l2 = named('strata.l2.getMany').find(
    (s) => s.parentSpanContext?.spanId === get.spanContext().spanId,
  )!;
  expect(l2.kind).toBe(2); // SpanKind.CLIENT
  expect(l2.attributes).toEqual({
    'strata.tier': 'l2',
    'strata.op': 'getMany',
    'db.system.name': 'redis',
    'db.system': 'redis',
    'db.operation.name': 'getMany',
  });
  expect(l2.spanContext().traceId).toBe(get.spanContext().traceId);
});

it('an L3 miss: find of an absent id reads L2 then L3 under its span, tier l3, no hit', async () => {
  const strata = strataOf();
  expect(await strata.find(players, 'absent')).toBeNull();
  const { one, children, named } = finished();
  const find = one('strata.find');
  expect(find.attributes).toMatchObject({
    'strata.op': 'find',
    'strata.schema': players.name,
    'strata.tier': 'l3',
    'strata.hit': false,
  });
  expect(children(find)).toContain('strata.l3.findMany');
  expect(children(find)).toContain('strata.l2.getMany');
  const l3 = named('strata.l3.findMany')[0]!;
  expect(l3.attributes).toMatchObject({
    'strata.tier': 'l3',
    'strata.op': 'findMany',
    'strata.schema': players.name,
    'db.system.name': 'postgresql',
  });
});

it('concurrent reads: each tier call is the child of the read that made it', async () => {
  const strata = strataOf();
  await strata.find(players, 'warm-up');
  exporter.reset();
  await Promise.all(['c1', 'c2', 'c3'].map((id) => strata.find(players, id)));
  const { named, children } = finished();
  const finds = named('strata.find');
  expect(finds).toHaveLength(3);
  for (const find of finds) expect(children(find)).toEqual(['strata.l2.getMany', 'strata.l3.findMany']);
  const traces = new Set(finds.map((f) => f.spanContext().traceId));
  expect(traces.size).toBe(3);
});

it('a write-through set: the set span is the parent of the L3 write and the L2 put', async () => {
  const strata = strataOf();
  await strata.set(players, { id: 't3', username: 'cy' });
  const { one, children } = finished();
  const set = one('strata.set');
  expect(set.attributes).toEqual({ 'strata.op': 'set', 'strata.schema': players.name });
  const calls = children(set);
  expect(calls).toContain('strata.l3.write');
  expect(calls.some((name) => name.startsWith('strata.l2.'))).toBe(true);
  expect(calls.every((name) => name.startsWith('strata.l2.') || name.startsWith('strata.l3.'))).toBe(true);
});

it('a batch read and a transaction: getMany reports the lowest tier any id needed; tx.commit has a span', async () => {
  const strata = strataOf();
  await strata.tx().set(players, { id: 't4', username: 'dee' }).commit();
  const commit = finished().one('strata.tx.commit');
  expect(commit.attributes).toEqual({ 'strata.op': 'tx.commit', 'strata.tx.ops': 1 });
  expect(finished().children(commit)).toContain('strata.l3.write');
  exporter.reset();
  await strata.getMany(players, ['t4', 'nobody']); // t4 in L1, 'nobody' down to L3
  expect(finished().one('strata.getMany').attributes).toMatchObject({
    'strata.tier': 'l3',
    'strata.hit': false,
  });
});

it('the admin operations (@strata/core/admin) have their spans, as the methods they were had', async () => {
  const strata = strataOf();
  await strata.migrate();
  exporter.reset();
  expect(await reencrypt(strata, players)).toEqual({ scanned: 0, reencrypted: 0 });
  await applyChanges(strata, [{ schema: players.identity, ids: ['adm1'], versions: [3], op: 'update' }]);
  const err = await applyChanges(strata, 'not changes' as never).catch((e: unknown) => e);
  expect(isStrataError(err, 'VALIDATION_FAILED')).toBe(true);
  const { named, one, children } = finished();
  expect(one('strata.reencrypt').attributes).toEqual({
    'strata.op': 'reencrypt',
    'strata.schema': players.name,
  });
  const [applied, refused] = named('strata.applyChanges');
  expect(named('strata.applyChanges')).toHaveLength(2);
  expect(applied!.attributes).toEqual({ 'strata.op': 'applyChanges' });
  // The superseding marker is an L2 call under the operation's span.
  expect(children(applied!).some((name) => name.startsWith('strata.l2.'))).toBe(true);
  expect(applied!.status.code).toBe(0);
  expect(refused!.status.code).toBe(2); // SpanStatusCode.ERROR
  expect(refused!.attributes).toMatchObject({ 'strata.error.code': 'VALIDATION_FAILED' });
});

it('a failure: the span has status ERROR, the exception, and the Strata code', async () => {
  const strata = strataOf();
  const err = await strata.get(players, 'missing').catch((e: unknown) => e);
  expect(isStrataError(err, 'NOT_FOUND')).toBe(true);
  const get = finished().one('strata.get');
  expect(get.status).toEqual({ code: 2, message: (err as Error).message }); // SpanStatusCode.ERROR
  expect(get.attributes).toMatchObject({ 'strata.error.code': 'NOT_FOUND', 'error.type': 'NOT_FOUND' });
  expect(get.events.map((e) => e.name)).toEqual(['exception']);
  expect(get.events[0]!.attributes).toMatchObject({ 'exception.message': (err as Error).message });
});

it('a failing tier call is an ERROR span under a read that still succeeds from L3', async () => {
  const seed = strataOf();
  await seed.set(players, { id: 't5', username: 'eve' });
  exporter.reset();
  const closed = await freePort();
  const broken = strataOf({ l2: createUpstashL2({ url: `http://127.0.0.1:${closed}`, token: 't' }) });
  expect((await broken.get(players, 't5')).username).toBe('eve');
  const { one, spans } = finished();
  const get = one('strata.get');
  expect(get.status.code).toBe(0);
  expect(get.attributes).toMatchObject({ 'strata.tier': 'l3', 'strata.hit': false });
  const failed = spans.filter((s) => s.name.startsWith('strata.l2.') && s.status.code === 2);
  expect(failed.length).toBeGreaterThan(0);
  expect(failed[0]!.attributes).toMatchObject({ 'strata.error.code': 'L2_UNAVAILABLE' });
  expect(failed[0]!.spanContext().traceId).toBe(get.spanContext().traceId);
});

it('a timer round has no span; flushDirty has one, the queue and L3 calls under it', async () => {
  const rounds: (() => void)[] = [];
  const scheduler: Scheduler = {
    every: (_ms, run) => {
      rounds.push(run);
      return () => {};
    },
  };
  const behind = defineSchema({ table: stack.tables.players, writeMode: 'write-behind' });
  const strata = strataOf({ schemas: [behind], scheduler, writeBehind: { queue: createMemoryQueue() } });
  await strata.set(behind, { id: 't8', username: 'hal' });
  expect(finished().children(finished().one('strata.set'))).toContain('strata.queue.enqueue');
  await strata.set(behind, { id: 't9', username: 'ivy' });
  exporter.reset();
  expect(rounds.length).toBeGreaterThan(0);
  for (const round of rounds) round(); // the flush round a timer would run: outside any operation
  await expect.poll(() => strata.stats().flushed).toBe(2);
  expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual([]);
  await strata.set(behind, { id: 't10', username: 'jo' });
  exporter.reset();
  await strata.flushDirty();
  const { one, children } = finished();
  const flush = one('strata.flushDirty');
  expect(children(flush)).toEqual(expect.arrayContaining(['strata.queue.take', 'strata.l3.write']));
});

it("joins the caller's trace: an app span around a call is the operation span's parent", async () => {
  const strata = strataOf();
  await strata.set(players, { id: 't6', username: 'fay' });
  exporter.reset();
  await tracer.startActiveSpan('request', async (request) => {
    await strata.get(players, 't6');
    request.end();
  });
  const { one } = finished();
  expect(one('strata.get').parentSpanContext?.spanId).toBe(one('request').spanContext().spanId);
});

it('with tracing off the methods are the class own (nothing wrapped), and no span is made', async () => {
  const plain = strataOf({ tracing: undefined });
  expect(Object.hasOwn(plain, 'get')).toBe(false);
  await plain.find(players, 'absent');
  expect(exporter.getFinishedSpans()).toEqual([]);
  expect(Object.hasOwn(strataOf(), 'get')).toBe(true);
});

it('on the global tracer: no span until an SDK registers a provider, spans from then on', async () => {
  const tracing = openTelemetryTracing(); // the API's global tracer
  const strata = strataOf({ tracing });
  expect(tracing.recording?.()).toBe(false);
  await strata.set(players, { id: 't7', username: 'gus' });
  expect(await strata.get(players, 't7')).toMatchObject({ username: 'gus' });
  expect(exporter.getFinishedSpans()).toEqual([]);
  expect(Object.hasOwn(strata, 'get')).toBe(true); // wrapped: it is the provider that is missing
  trace.setGlobalTracerProvider(provider);
  try {
    expect(tracing.recording?.()).toBe(true);
    await strata.get(players, 't7');
    expect(finished().one('strata.get').attributes).toMatchObject({
      'strata.tier': 'l1',
      'strata.hit': true,
    });
  } finally {
    trace.disable();
  }
});
