import type { L2Tier } from '@strata/core';
import { ORDERED_PUT_PUBLISH, type ScriptedBus, type ScriptedPublish } from '@strata/core/driver';
import type { Redis } from 'ioredis';
import { markRedis } from './colocation-mark.js';

/** As the engine's limit on a message (coherence.ts): a batch past it is told by the engine. */
const MAX_MESSAGE_CHARS = 256 * 1024;
/** Receivers drop a message with an id over 1 KiB, a schema over 255 characters, an origin over 256. */
const MAX_ID_BYTES = 1_024;

/**
 * The `scripted` side of a bus that PUBLISHes on `channel` through `publisher`: a write-behind
 * script on the same Redis publishes its batch's messages itself (one round trip even with the bus).
 * Whether the L2 is that Redis is asked once per L2 by a marker key read back through it, never
 * assumed from URLs (as for the queue: `ColocatedQueue.mark`); a failed check is handed to `failed`
 * and asked again at the next batch; until it says yes the engine publishes.
 */
export function scriptedBus(publisher: Redis, channel: string, count: (n: number) => void): ScriptedBus {
  const answers = new WeakMap<L2Tier, Promise<boolean>>();
  const known = new WeakMap<L2Tier, boolean>();
  const ask = (l2: L2Tier, failed: (err: unknown) => void): Promise<boolean> => {
    let answer = answers.get(l2);
    if (!answer) {
      answer = (async () => {
        const { key, value } = await markRedis(publisher, channel);
        const [seen] = await l2.getMany([key]);
        return seen === value;
      })().then(
        (same) => {
          known.set(l2, same);
          return same;
        },
        (err: unknown) => {
          answers.delete(l2);
          failed(err);
          return false;
        },
      );
      answers.set(l2, answer);
    }
    return answer;
  };
  return {
    batch(l2, identity, origin, writes, failed, app) {
      const same = known.get(l2);
      if (same === false) return undefined;
      const head = { identity, origin, app };
      if (same === undefined)
        return ask(l2, failed).then((yes) => (yes ? template(channel, head, writes, count) : undefined));
      return template(channel, head, writes, count);
    },
  };
}

/** The batch's messages up to their versions, as `encodeInvalidation` writes them; undefined: the engine's. */
function template(
  channel: string,
  { identity, origin, app }: { identity: string; origin: string; app: string | undefined },
  writes: readonly { readonly key: string; readonly row?: unknown }[],
  count: (n: number) => void,
): ScriptedPublish | undefined {
  if (identity.length === 0 || identity.length > 255 || origin.length > 256) return undefined;
  if (app !== undefined && (app.length === 0 || app.length > 128)) return undefined;
  const sets: string[] = [];
  const deletes: string[] = [];
  let chars = 0;
  for (const w of writes) {
    // Possibly over the receivers' limit (3 bytes per UTF-16 unit at most): the engine decides.
    if (w.key.length * 3 > MAX_ID_BYTES && new TextEncoder().encode(w.key).length > MAX_ID_BYTES)
      return undefined;
    chars += w.key.length * 6 + 24;
    (w.row ? sets : deletes).push(w.key);
  }
  if (chars > MAX_MESSAGE_CHARS) return undefined;
  // `origin` first, then `app`, as `encodeInvalidation` writes them: the publisher drops its echo
  // by that prefix, and other apps on the channel drop the message by its app.
  const named = app === undefined ? '' : `"app":${JSON.stringify(app)},`;
  const head = `{"origin":${JSON.stringify(origin)},${named}"schema":${JSON.stringify(identity)},"ids":`;
  const messages = (sets.length > 0 ? 1 : 0) + (deletes.length > 0 ? 1 : 0);
  return {
    scripts: ORDERED_PUT_PUBLISH,
    args: [
      channel,
      sets.length > 0 ? `${head}${JSON.stringify(sets)},"versions":[` : '',
      deletes.length > 0 ? `${head}${JSON.stringify(deletes)},"versions":[` : '',
      '',
    ],
    sent: () => count(messages),
  };
}
