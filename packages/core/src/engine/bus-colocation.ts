import type { InvalidationBus, ScriptedBus } from '../bus/types.js';
import type { L2Tier } from '../l2/types.js';
import { fitsUtf8 } from '../schema/text-limits.js';
import type { EngineContext } from './context.js';
import type { ScriptedPublish } from './ordered-writes.js';
import type { KeyedWrite } from './write-through.js';

/** As `coherence.ts`' limit on a message; a batch past it is told by the engine (a whole-schema message). */
const MAX_MESSAGE_CHARS = 256 * 1024;
/** Receivers drop a message with an id over 1 KiB (see `bus/message.ts`). */
const MAX_ID_BYTES = 1_024;

/**
 * Whether the invalidation bus PUBLISHes on the L2's own Redis, so a write-behind script can publish
 * its batch's messages itself (one round trip even with the bus). Asked once by a marker
 * (`ScriptedBus.mark`), never assumed from URLs, as `QueueColocation` does for the queue. A failed
 * check is logged and counted, and asked again at the next write; until then the engine publishes.
 */
export class BusColocation {
  #answer: Promise<ScriptedBus | undefined> | undefined;
  /** What `#answer` resolved to (null: not colocated), once it has. */
  #known: ScriptedBus | null | undefined;

  constructor(
    private readonly ctx: EngineContext,
    private readonly bus: InvalidationBus | undefined,
    private readonly l2: L2Tier | undefined,
  ) {
    if (!bus?.scripted || !l2) this.#known = null;
  }

  /**
   * The template of a one-bucket write-behind batch's messages, as `Coherence.publish` would send
   * them (schema, ids, versions, op, origin, ticks), for its script to complete with the versions
   * and tick it assigns; undefined when the engine publishes itself (no colocated bus, a batch whose
   * message would not be sent as is). A promise only until the first check has been answered.
   */
  template(
    identity: string,
    writes: readonly KeyedWrite[],
  ): ScriptedPublish | undefined | Promise<ScriptedPublish | undefined> {
    const known = this.#known;
    if (known === null) return undefined;
    if (known === undefined) return this.#ask().then((bus) => bus && build(this.ctx, bus, identity, writes));
    return build(this.ctx, known, identity, writes);
  }

  #ask(): Promise<ScriptedBus | undefined> {
    const scripted = this.bus!.scripted!;
    this.#answer ??= (async () => {
      const { key, value } = await scripted.mark();
      const [seen] = await this.l2!.getMany([key]);
      return seen === value ? scripted : undefined;
    })().then(
      (answer) => {
        this.#known = answer ?? null;
        return answer;
      },
      (err: unknown) => {
        this.#answer = undefined;
        this.ctx.counters.error('bus');
        this.ctx.config.logger.warn('invalidation bus: could not tell whether it shares the L2 Redis', {
          bus: this.bus!.name,
          error: String(err),
        });
        return undefined;
      },
    );
    return this.#answer;
  }
}

function build(
  ctx: EngineContext,
  bus: ScriptedBus,
  identity: string,
  writes: readonly KeyedWrite[],
): ScriptedPublish | undefined {
  const origin = ctx.config.instanceId;
  // Receivers' limits on these (see `bus/message.ts`): past them, the engine's publish decides.
  if (identity.length === 0 || identity.length > 255 || origin.length > 256) return undefined;
  const sets: string[] = [];
  const deletes: string[] = [];
  let chars = 0;
  for (const w of writes) {
    // A long id may be over the receivers' limit: the engine's own publish handles it.
    if (w.key.length * 3 > MAX_ID_BYTES && !fitsUtf8(w.key, MAX_ID_BYTES)) return undefined;
    chars += w.key.length * 6 + 24;
    (w.row ? sets : deletes).push(w.key);
  }
  if (chars > MAX_MESSAGE_CHARS) return undefined;
  const schema = `{"schema":${JSON.stringify(identity)},"ids":`;
  return {
    channel: bus.channel,
    setHead: sets.length > 0 ? `${schema}${JSON.stringify(sets)},"versions":[` : '',
    deleteHead: deletes.length > 0 ? `${schema}${JSON.stringify(deletes)},"versions":[` : '',
    after: `,"origin":${JSON.stringify(origin)}`,
    messages: (sets.length > 0 ? 1 : 0) + (deletes.length > 0 ? 1 : 0),
    bus,
  };
}
