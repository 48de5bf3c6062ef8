/**
 * Requests cut short, as workerd cuts them: the fetch a request left running when it ended never
 * settles (cancelled) and its timers never fire. Here a fetch is held forever by its body's text
 * (global fetch wrapped), and each request is a real Worker request to this Worker
 * (`exports.default.fetch`, see fixtures/request-app.ts), answered or timed out on the test's timer.
 */
import { exports } from 'cloudflare:workers';

const realFetch = globalThis.fetch;
/** A fetch whose body has this text is held forever (cancelled with its request); then cleared. */
let holdBody: string | undefined;
let onHeld: (() => void) | undefined;
/** Every fetch whose body has this text fails, as L2 unreachable. */
let failBody: string | undefined;

/** Wraps global fetch (holds and failures as set below) until the returned function restores it. */
export function wrapFetch(): () => void {
  globalThis.fetch = async (input, init) => {
    const body = typeof init?.body === 'string' ? init.body : '';
    if (holdBody !== undefined && body.includes(holdBody)) {
      holdBody = undefined;
      onHeld?.();
      return new Promise<Response>(() => {}); // a cancelled fetch: never settles
    }
    if (failBody !== undefined && body.includes(failBody)) {
      throw new TypeError('Network connection lost (test: L2 missed this write)');
    }
    return realFetch(input, init);
  };
  return () => {
    globalThis.fetch = realFetch;
  };
}

/** The next fetch whose body has `text` is held forever; resolves once it is. */
export function holdNext(text: string): Promise<void> {
  const held = new Promise<void>((resolve) => {
    onHeld = resolve;
  });
  holdBody = text;
  return held;
}

/** Fetches whose body has `text` fail until called with undefined. */
export function failWith(text: string | undefined): void {
  failBody = text;
}

/** This Worker's own entrypoint (the test Worker's `exports` are not typed with it). */
const self = (exports as unknown as { default: Fetcher }).default;

/** One request to this Worker: its JSON, or why it did not answer within `ms`. */
export async function request(path: string, ms = 4_000): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${ms} ms`), ms);
  });
  const res = self
    .fetch(`http://worker${path}`)
    .then(async (r: Response) => (r.ok ? r.json() : `status ${r.status}: ${await r.text()}`));
  try {
    return await Promise.race([res, late]);
  } finally {
    clearTimeout(timer);
  }
}
