import type { Redis } from '@upstash/redis';

/** What @upstash/redis 1.x keeps of its config on `client` (not in its types: read duck-typed). */
interface ClientInternals {
  client?: { retry?: { attempts?: unknown }; options?: { signal?: unknown } };
}

/**
 * What a @upstash/redis client does that a tier must know: `warning` when it sends a command again
 * after a fetch that threw (its `retry`: the default five, or `retry: false`, which 1.39 takes as
 * one), which is also when the server ran it and the reply was lost, so a script may run twice;
 * `signal`, the AbortSignal it was built with (not a function), after whose abort the client answers
 * every command with the reply "Aborted". Neither is known for a client of another shape.
 */
export function clientHazards(redis: Redis): { warning?: string; signal?: AbortSignal } {
  const internals = (redis as unknown as ClientInternals).client;
  const attempts = internals?.retry?.attempts;
  const signal = internals?.options?.signal;
  return {
    ...(typeof attempts === 'number' &&
      attempts > 0 && {
        warning: `upstash: the client sends a command again (${attempts}x) when a fetch fails, which runs it twice if the reply was lost: build it with retry: { retries: 0 }`,
      }),
    // Duck-typed too: a function (a signal per request) has no `aborted`, and throws when it fires.
    ...(typeof (signal as AbortSignal | undefined)?.aborted === 'boolean' && {
      signal: signal as AbortSignal,
    }),
  };
}
