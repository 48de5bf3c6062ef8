import { messageOf, StrataError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { triesMade } from '../queue/dead-letter.js';
import type { Delivery, QueuedWrite, WriteRoute } from '../queue/types.js';
import type { FlushOutcome } from './flusher.js';
import type { Strata } from './strata.js';

/**
 * The Strata a write is for, by its route (qualified table and writer's keyPrefix), or undefined
 * when this consumer serves no such tenant. May build the instance (`createStrata(...)`, cached).
 */
export type StrataResolver = (route: WriteRoute) => Strata | undefined | Promise<Strata | undefined>;

/** What a shared queue's consumer flushes into: one Strata, several (one per tenant), or a resolver. */
export type FlushTarget = Strata | readonly Strata[] | StrataResolver;

/** A delivery no Strata of the target flushes: SCHEMA_NOT_FOUND, its `details` naming the route. */
export interface UnroutableWrite {
  readonly delivery: Delivery;
  readonly error: StrataError;
}

/** {@link FlushOutcome} over every Strata the batch was routed to; `unroutable` ones are in `retried` too. */
export interface RoutedFlushOutcome extends FlushOutcome {
  unroutable: UnroutableWrite[];
}

/**
 * Flushes a push queue's batch whose messages may belong to several tenants (apps): each write goes
 * to the one Strata that `flushes` it (its keyPrefix and qualified table), each Strata's share in
 * one `flushBatch`, the tenants' shares at once. A write no Strata claims (a tenant this consumer does not serve, a table a newer
 * deploy adds, an older producer's message without keyPrefix that two tenants' tables match) is
 * never applied anywhere: it is retried, since a rolling deploy may bring its Strata, and reported
 * in `unroutable` and logged (warn). A Strata whose flush throws gets its share retried (logged as
 * an error); the other tenants' shares still settle.
 *
 * @example
 * const outcome = await flushRouted([strataA, strataB], deliveries, logger);
 * outcome.unroutable.map((u) => u.error.code); // ['SCHEMA_NOT_FOUND', …]
 */
export async function flushRouted(
  target: FlushTarget,
  deliveries: readonly Delivery[],
  logger: Logger,
): Promise<RoutedFlushOutcome> {
  const outcome: RoutedFlushOutcome = {
    acked: [],
    retried: [],
    held: [],
    withdrawing: [],
    foreign: [],
    dead: [],
    unroutable: [],
  };
  const shares = new Map<Strata, Delivery[]>();
  const routes = new Map<string, Promise<Strata | StrataError>>();
  for (const delivery of deliveries) {
    const { schema, keyPrefix } = delivery.write;
    const route = { schema, keyPrefix };
    const key = JSON.stringify([schema, keyPrefix ?? null]);
    if (!routes.has(key)) routes.set(key, routeOf(target, route));
    const found = await routes.get(key)!;
    if (found instanceof StrataError) {
      outcome.unroutable.push({ delivery, error: found });
      outcome.retried.push(delivery.handle);
      logger.warn('write-behind: a queued write no Strata here flushes: retried', {
        code: found.code,
        schema,
        keyPrefix: keyPrefix ?? null,
        handle: delivery.handle,
        // The tries made, this one counted (as a dead letter's `attempts`).
        attempts: triesMade(delivery),
        error: found.message,
      });
      continue;
    }
    const share = shares.get(found) ?? [];
    share.push(delivery);
    shares.set(found, share);
  }
  // Each tenant's share flushes at once: one tenant's slow database must not hold another's writes
  // past the batch's time limit. Outcomes are merged in share order once all have settled.
  const parts = await Promise.all(
    [...shares].map(async ([strata, share]) => {
      try {
        return await strata.flushBatch(share);
      } catch (err) {
        // Versioned, so applying part of it again on the retry changes nothing.
        const handles = share.map((d) => d.handle);
        logger.error("write-behind: a tenant's flush failed: its writes are retried", {
          writes: handles.length,
          schemas: [...new Set(share.map((d) => d.write.schema))],
          error: messageOf(err),
        });
        return {
          acked: [],
          retried: handles,
          held: handles,
          withdrawing: [],
          foreign: [],
          dead: [],
        } as FlushOutcome;
      }
    }),
  );
  for (const part of parts) {
    outcome.acked.push(...part.acked);
    outcome.retried.push(...part.retried);
    outcome.held.push(...part.held);
    outcome.withdrawing.push(...part.withdrawing);
    outcome.foreign.push(...part.foreign);
    outcome.dead.push(...part.dead);
  }
  return outcome;
}

/**
 * {@link Strata.deadLettersSent} for a push queue's consumer: each write (a dead letter of
 * {@link flushRouted} marked `withdrawn`, sent to the dead-letter store) goes to the Strata that
 * flushes it. One with none is left (its withdrawal stays: nothing else changes). Never rejects.
 */
export async function deadLettersSentRouted(
  target: FlushTarget,
  writes: readonly QueuedWrite[],
): Promise<void> {
  const shares = new Map<Strata, QueuedWrite[]>();
  for (const write of writes) {
    const found = await routeOf(target, { schema: write.schema, keyPrefix: write.keyPrefix });
    if (found instanceof StrataError) continue;
    shares.set(found, [...(shares.get(found) ?? []), write]);
  }
  await Promise.all([...shares].map(([strata, share]) => strata.deadLettersSent(share)));
}

/** The Strata of a route, or the SCHEMA_NOT_FOUND saying why there is none. */
async function routeOf(target: FlushTarget, route: WriteRoute): Promise<Strata | StrataError> {
  if (typeof target !== 'function') {
    const list: readonly Strata[] = Array.isArray(target) ? target : [target as Strata];
    const claiming = list.filter((strata) => strata.flushes(route));
    // A write naming its keyPrefix: any claimant is that app, on the one database it claimed (L3Claim).
    if (claiming.length === 1 || (claiming.length > 1 && route.keyPrefix !== undefined)) return claiming[0]!;
    // An older producer's message that two tenants' tables match: applying it to either may be wrong.
    if (claiming.length > 1) return unroutable(route, `${claiming.length} Stratas here register that table`);
    return unroutable(route, 'no Strata here registers it');
  }
  let strata: Strata | undefined;
  try {
    strata = await target(route);
  } catch (err) {
    return unroutable(route, `the resolver threw: ${messageOf(err)}`, err);
  }
  if (strata?.flushes(route)) return strata;
  return unroutable(
    route,
    strata ? "the resolver's Strata does not register it" : 'the resolver has no Strata for it',
  );
}

function unroutable(route: WriteRoute, why: string, cause?: unknown): StrataError {
  const { schema, keyPrefix } = route;
  const whose =
    keyPrefix === undefined ? 'without a keyPrefix (an older producer)' : `of keyPrefix ${keyPrefix}`;
  return new StrataError('SCHEMA_NOT_FOUND', `queued write to ${schema} ${whose}: ${why}`, {
    ...(cause !== undefined && { cause }),
    details: { schema, keyPrefix: keyPrefix ?? null },
  });
}
