import { isStrataError, type StrataError } from '../src/errors.js';
import { type Envelope, EXPIRED_AT, encodeEnvelope, ownerTag } from '../src/l2/envelope.js';
import {
  DROP,
  GENERATION,
  MARK,
  NEXT_GENERATION,
  ORDERED_PUT,
  ORDERED_PUT_ENQUEUE,
  PENDING,
  PUT,
  RESERVE,
  RESET_GENERATION,
  SEED_COUNTER,
  UNMARK,
} from '../src/l2/scripts.js';
import type { L2Script, L2Tier } from '../src/l2/types.js';

/**
 * The real tier, with every call that reaches it counted, and named in `ran` (`getMany`, or the
 * script's name): proves an open breaker touches nothing, or which scripts a write took.
 * @example const { tier, calls, ran } = countingL2(createIoredisL2(url)); …; expect(calls()).toBe(0);
 */
export function countingL2(tier: L2Tier): { tier: L2Tier; calls: () => number; ran: string[] } {
  const ran: string[] = [];
  return {
    calls: () => ran.length,
    ran,
    tier: {
      name: tier.name,
      getMany: (keys) => {
        ran.push('getMany');
        return tier.getMany(keys);
      },
      run: (script, keys, args) => {
        ran.push(script.name);
        return tier.run(script, keys, args);
      },
      close: () => tier.close(),
    },
  };
}

/** The StrataError a promise rejects with; throws when it resolves or rejects with something else. */
export async function strataRejection(promise: Promise<unknown>): Promise<StrataError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isStrataError(error)) throw new Error(`expected a StrataError, got ${String(error)}`);
  return error;
}

/** The error a promise rejects with; throws when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  const outcome = await promise.then(
    () => ({ resolved: true as const }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  if (outcome.resolved) throw new Error('expected a rejection, the promise resolved');
  return outcome.error;
}

/** The owner tag of the conformance suite's envelopes. */
export const CONFORMANCE_OWNER = ownerTag('l2conf.players');

/**
 * An L2 value as the engine writes it: a row of `version` (not pending a flush) owned by the
 * suite, unless `fields` says otherwise.
 * @example envelope(7, '{"id":"p1"}', { pending: true }); // '~1;r;1;7;0;0;<owner>;{"id":"p1"}'
 */
export function envelope(version: number, payload: string, fields: Partial<Envelope> = {}): string {
  return encodeEnvelope({
    kind: 'r',
    pending: false,
    version,
    generation: 0,
    expiresAt: 0,
    freshUntil: 0,
    owner: CONFORMANCE_OWNER,
    payload,
    ...fields,
  });
}

/** Hex SHA-1 of a script's source: the name EVALSHA and SCRIPT EXISTS know it by. */
export async function scriptSha1(script: L2Script): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(script.source));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/*
 * The scripts' calling conventions (see scripts.ts), spelled once so each test reads as what it
 * sends. Each resolves the reply without the app tick every write script INCRs and replies first
 * (`tickOf` keeps the tick of the last call for the tests of the tick itself) and without the
 * status that follows it when it is 0 (a refusal comes back as `[status, …]`). The tick and
 * generation keys are the suite's own (the first key's prefix + `tick` / `gen`); the generation is
 * the one stored there (`generation` option; 0 when none is).
 */

let lastTick: number | undefined;

/** The tick the last runPut / runOrderedPut / runReserve / runDrop got back. */
export function tickOf(): number | undefined {
  return lastTick;
}

/** The suite's tick key: every key a suite writes starts with its prefix, `<unique name>:`. */
export function tickKey(anyKey: string): string {
  return `${anyKey.slice(0, anyKey.indexOf(':') + 1)}tick`;
}

/** The suite's generation key. */
export function generationKey(anyKey: string): string {
  return `${anyKey.slice(0, anyKey.indexOf(':') + 1)}gen`;
}

/** `{tick, status, …}` as `[…]` when the status is 0, else `[status, …]`. */
function withoutTick(reply: unknown): unknown {
  if (!Array.isArray(reply)) return reply;
  lastTick = Number(reply[0]);
  const status = Number(reply[1]);
  return status === 0 ? reply.slice(2) : [status, ...reply.slice(2)];
}

interface PutEntry {
  key: string;
  version: number;
  /** Default 0: no expiry. */
  ttlMs?: number;
  value: string;
}

/** PUT: conditional writes of `entries`, then INCR of `bumps`. */
export async function runPut(
  l2: L2Tier,
  entries: readonly PutEntry[],
  bumps: readonly string[] = [],
  generation = 0,
  settle?: string,
): Promise<unknown> {
  const any = entries[0]?.key ?? bumps[0] ?? '';
  const reply = await l2.run(
    PUT,
    [tickKey(any), generationKey(any), ...entries.map((e) => e.key), ...(settle ? [settle] : []), ...bumps],
    [
      String(generation),
      String(entries.length),
      ...entries.flatMap((e) => [String(e.version), String(e.ttlMs ?? 0), e.value]),
      ...(settle ? ['settle'] : []),
    ],
  );
  return withoutTick(reply);
}

export interface OrderedEntry {
  key: string;
  kind: Envelope['kind'];
  /** Default 0: no expiry. */
  ttlMs?: number;
  /** Default 0 (never). */
  expiresAt?: number;
  payload: string;
  /** The row the pending index keeps for a pending write; default '' (the payload). */
  indexRow?: string;
  /** The keys of the index row's columns that are defaults for a new row, which the index names; default none. */
  defaults?: readonly string[];
  /** The writes the row goes beneath (`u` then `QueuedWrite.under` as JSON), which the index keeps beside it; default none. */
  under?: string;
}

export interface OrderedPutKeys {
  counter: string;
  search: string;
  /** The pending index; default `{counter}:pending` (the counter's hash slot). */
  pending?: string;
}

/** ORDERED_PUT's ARGV[2]: the tick floor, with the write's deadline when given (`{floor}:{due}`). */
function floorArg(options: { floor?: number; due?: number }): string {
  const floor = String(options.floor ?? 0);
  return options.due === undefined ? floor : `${floor}:${options.due}`;
}

/** The pending index ORDERED_PUT keeps beside `keys.counter`. */
export function pendingIndexKey(keys: OrderedPutKeys): string {
  return keys.pending ?? `${keys.counter}:pending`;
}

/** ORDERED_PUT: versions from `keys.counter`, search generation `keys.search` moved on. */
export async function runOrderedPut(
  l2: L2Tier,
  keys: OrderedPutKeys,
  entries: readonly OrderedEntry[],
  options: {
    pending?: boolean;
    owner?: string;
    floor?: number;
    generation?: number;
    /** Per entry, the version its key must hold ('' any, '0' none): a partial write's compare-and-set. */
    expected?: readonly string[];
    /** The write's deadline on Redis' clock (ms), sent with the floor (see PAST_DUE). */
    due?: number;
  } = {},
): Promise<unknown> {
  const reply = await l2.run(
    ORDERED_PUT,
    [
      tickKey(keys.counter),
      generationKey(keys.counter),
      keys.counter,
      keys.search,
      pendingIndexKey(keys),
      ...entries.map((e) => e.key),
    ],
    [
      String(options.generation ?? 0),
      floorArg(options),
      options.pending ? '1' : '0',
      options.owner ?? CONFORMANCE_OWNER,
      ...entries.flatMap((e) => [
        e.kind,
        String(e.ttlMs ?? 0),
        String(e.expiresAt ?? 0),
        e.payload,
        e.indexRow ?? '',
        e.defaults ? JSON.stringify(e.defaults) : '',
        e.under ?? '',
      ]),
      ...(options.expected ?? []),
    ],
  );
  return withoutTick(reply);
}

/**
 * ORDERED_PUT_ENQUEUE: as `runOrderedPut`, and each entry's `head` + its version + '}' XADDed to
 * `stream` under `field`.
 */
export async function runOrderedPutEnqueue(
  l2: L2Tier,
  keys: OrderedPutKeys & { stream: string; field: string },
  entries: readonly (OrderedEntry & { head: string })[],
  options: { generation?: number; floor?: number; expected?: readonly string[]; due?: number } = {},
): Promise<unknown> {
  const reply = await l2.run(
    ORDERED_PUT_ENQUEUE,
    [
      tickKey(keys.counter),
      generationKey(keys.counter),
      keys.counter,
      keys.search,
      pendingIndexKey(keys),
      keys.stream,
      ...entries.map((e) => e.key),
    ],
    [
      String(options.generation ?? 0),
      floorArg(options),
      '1',
      CONFORMANCE_OWNER,
      keys.field,
      ...entries.flatMap((e) => [
        e.kind,
        String(e.ttlMs ?? 0),
        String(e.expiresAt ?? 0),
        e.payload,
        e.head,
        e.indexRow ?? '',
        e.defaults ? JSON.stringify(e.defaults) : '',
        e.under ?? '',
      ]),
      ...(options.expected ?? []),
    ],
  );
  return withoutTick(reply);
}

/** PENDING 'read' of `index`: its entries as a map (field -> value), or their count past `max`. */
export async function runPendingRead(
  l2: L2Tier,
  index: string,
  max = 1000,
): Promise<Map<string, string> | number> {
  const reply = await l2.run(PENDING, [index], ['read', String(max)]);
  if (!Array.isArray(reply)) return Number(reply);
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < reply.length; i += 2) out.set(String(reply[i]), String(reply[i + 1]));
  return out;
}

/** PENDING 'done': each field out of `index` while it names `version` or older. Replies the count removed. */
export function runPendingDone(
  l2: L2Tier,
  index: string,
  done: readonly { field: string; version: number }[],
): Promise<unknown> {
  return l2.run(PENDING, [index], ['done', ...done.flatMap((d) => [d.field, String(d.version)])]);
}

/**
 * PENDING 'put': each entry into `index` unless it holds one as new, with its defaults' names
 * (a JSON array of column keys; none: '') and the writes beneath it (JSON; none: ''). Replies the
 * count written.
 */
export function runPendingPut(
  l2: L2Tier,
  index: string,
  entries: readonly { field: string; value: string; names?: string; under?: string }[],
): Promise<unknown> {
  return l2.run(
    PENDING,
    [index],
    ['put', ...entries.flatMap((e) => [e.field, e.value, e.names ?? '', e.under ?? ''])],
  );
}

/**
 * RESERVE: `count` versions from the counter, written nowhere. {first} or {-3} / {-1}; with
 * `expected` (row key, version it must hold: '0' none), {-5} when one holds another.
 */
export async function runReserve(
  l2: L2Tier,
  counter: string,
  count: number,
  floor = 0,
  expected: readonly [string, string][] = [],
): Promise<unknown> {
  const reply = await l2.run(
    RESERVE,
    [tickKey(counter), counter, ...expected.map(([key]) => key)],
    [String(floor), String(count), String(expected.length), ...expected.map(([, version]) => version)],
  );
  return withoutTick(reply);
}

/**
 * RESERVE of one version per key of `written` that also marks, in `index`, each of them with an
 * entry there as superseded at its version. {first} or {-3} / {-1}.
 */
export async function runReserveMarking(
  l2: L2Tier,
  counter: string,
  index: string,
  written: readonly string[],
): Promise<unknown> {
  const reply = await l2.run(
    RESERVE,
    [tickKey(counter), counter, index, ...written],
    ['0', String(written.length), '0'],
  );
  return withoutTick(reply);
}

/** UNMARK: takes back the marks of `keys` in `index` left at `versions`. */
export function runUnmark(
  l2: L2Tier,
  index: string,
  keys: readonly string[],
  versions: readonly number[],
): Promise<unknown> {
  return l2.run(UNMARK, [index, ...keys], versions.map(String));
}

/**
 * PENDING 'peek': per key, its value and its entry in `index` (null for none); with `marks`, an
 * entry a reservation marked superseded reads `{version};c;`.
 */
export async function runPendingPeek(
  l2: L2Tier,
  index: string,
  keys: readonly string[],
  marks = false,
): Promise<unknown[]> {
  return (await l2.run(PENDING, [index, ...keys], marks ? ['peek', 'marks'] : ['peek'])) as unknown[];
}

/** A DROP rule: always, unless pending, kept as expired (unless pending), or only up to a version. */
type DropRule = 'all' | 'unlessPending' | 'expire' | number;

/** How long the version floor a DROP leaves lives, in the suite (see `floorMarker`). */
export const FLOOR_TTL_MS = 60_000;

/** The value DROP leaves where it dropped a value carrying `version` (not pending): a superseded marker. */
export function floorMarker(version: number, generation = 0): string {
  return envelope(version, '', { kind: 'x', generation, expiresAt: EXPIRED_AT, freshUntil: EXPIRED_AT });
}

/** DROP: conditional drops (a version floor left, see `floorMarker`), then INCR of `bumps`. */
export async function runDrop(
  l2: L2Tier,
  drops: readonly { key: string; rule: DropRule }[],
  bumps: readonly string[] = [],
  generation = 0,
): Promise<unknown> {
  const any = drops[0]?.key ?? bumps[0] ?? '';
  const reply = await l2.run(
    DROP,
    [tickKey(any), generationKey(any), ...drops.map((d) => d.key), ...bumps],
    [
      String(generation),
      String(drops.length),
      ...drops.map((d) => String(d.rule)),
      String(FLOOR_TTL_MS),
      CONFORMANCE_OWNER,
    ],
  );
  return withoutTick(reply);
}

/** MARK: `{marked count, bumps}`; each key set to its marker unless it holds that version or newer, or a pending row. */
export async function runMark(
  l2: L2Tier,
  marks: readonly { key: string; version: number; value: string }[],
  {
    bumps = [],
    ttlMs = 0,
    generation = 0,
  }: { bumps?: readonly string[]; ttlMs?: number; generation?: number } = {},
): Promise<unknown> {
  const any = marks[0]?.key ?? bumps[0] ?? '';
  const reply = await l2.run(
    MARK,
    [tickKey(any), generationKey(any), ...marks.map((m) => m.key), ...bumps],
    [
      String(generation),
      String(marks.length),
      String(ttlMs),
      ...marks.flatMap((m) => [String(m.version), m.value]),
    ],
  );
  return withoutTick(reply);
}

export interface GenerationKeys {
  generation: string;
  boot: string;
  tick: string;
}

/**
 * GENERATION: {generation, boot marker, tick, other claim or ''}; `bootMarker` is set when none is
 * stored; with `claim`, the L3 identity is claimed under `claim.key`.
 */
export function runGeneration(
  l2: L2Tier,
  keys: GenerationKeys,
  bootMarker: string,
  claim?: { key: string; identity: string; ttlMs: number },
): Promise<unknown> {
  const base = [keys.generation, keys.boot, keys.tick];
  return claim
    ? l2.run(GENERATION, [...base, claim.key], [bootMarker, claim.identity, String(claim.ttlMs)])
    : l2.run(GENERATION, base, [bootMarker]);
}

/**
 * NEXT_GENERATION: the generation moved past max(stored, floor), by one or (`hard`) to the next
 * era's start; the search generation on.
 */
export function runNextGeneration(
  l2: L2Tier,
  keys: { generation: string; search: string },
  floor: number,
  hard = false,
): Promise<unknown> {
  return l2.run(NEXT_GENERATION, [keys.generation, keys.search], [String(floor), hard ? '1' : '0']);
}

/** The keys RESET_GENERATION reads and writes. */
interface ResetGenerationKeys {
  generation: string;
  search: string;
  moved: string;
  boot: string;
}

/**
 * RESET_GENERATION: one move per schema and Redis life ({generation, boot marker}); `replace` is
 * the marker to replace with `token` ('' none, '*' any), `force` moves even when this life's was made.
 */
export function runResetGeneration(
  l2: L2Tier,
  keys: ResetGenerationKeys,
  options: { floor?: number; replace?: string; token: string; force?: boolean },
): Promise<unknown> {
  return l2.run(
    RESET_GENERATION,
    [keys.generation, keys.search, keys.moved, keys.boot],
    [String(options.floor ?? 0), options.replace ?? '', options.token, options.force ? '1' : '0'],
  );
}

/** SEED_COUNTER: the counter raised to `floor` unless already there. */
export function runSeedCounter(l2: L2Tier, counter: string, floor: number): Promise<unknown> {
  return l2.run(SEED_COUNTER, [counter], [String(floor)]);
}
