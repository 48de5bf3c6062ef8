import type { Logger } from '@strata/core';
import { CHANGES_CHANNEL } from '@strata/core/driver';
import pg from 'pg';

export interface ChangeListenerOptions {
  databaseUrl: string;
  /** Called (debounced) after notifications, and after each (re)connect: changes may have come meanwhile. */
  wake: () => Promise<unknown>;
  logger?: Logger;
  /** Notifications within this many ms make one wake-up. Default 5. */
  debounceMs?: number;
  /** Postgres `application_name` of the listening session. */
  applicationName?: string;
  channel?: string;
}

/** A LISTEN session kept open: reconnects with backoff until closed. */
export interface ChangeListener {
  /** Resolves once the session is listening (the first time). */
  readonly ready: Promise<void>;
  /** Connects made so far (1 + reconnects), for tests and logs. */
  readonly connects: number;
  close(): Promise<void>;
}

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 30_000;

/**
 * Wakes the change relay as soon as Postgres says a change was captured, instead of at its next
 * interval: a dedicated `pg` client LISTENs on the channel, and each burst of notifications runs
 * `wake` once. The client reconnects with backoff (100 ms doubling to 30 s) when its connection
 * drops; timers are unref'd, so the listener never keeps a process alive.
 * @example
 * const listener = listenForChanges({ databaseUrl, wake: () => strata.relayChanges() });
 * await listener.ready; // … later: await listener.close();
 */
export function listenForChanges(options: ChangeListenerOptions): ChangeListener {
  const channel = options.channel ?? CHANGES_CHANNEL;
  const debounceMs = options.debounceMs ?? 5;
  let client: pg.Client | undefined;
  let closed = false;
  let retryMs = FIRST_RETRY_MS;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let debounce: ReturnType<typeof setTimeout> | undefined;
  let connects = 0;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  const wake = () => {
    if (closed || debounce) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      options.wake().catch((error: unknown) => {
        options.logger?.warn('change listener: the relay failed', { error: String(error) });
      });
    }, debounceMs);
    debounce.unref?.();
  };

  const reconnect = (why: unknown) => {
    if (closed || retry) return;
    options.logger?.warn('change listener: connection lost; reconnecting', {
      error: String(why),
      inMs: retryMs,
    });
    const dropped = client;
    client = undefined;
    dropped?.removeAllListeners();
    dropped?.on('error', () => {});
    void dropped?.end().catch(() => {});
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, retryMs);
    retry.unref?.();
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  };

  const connect = async () => {
    if (closed) return;
    const next = new pg.Client({
      connectionString: options.databaseUrl,
      ...(options.applicationName ? { application_name: options.applicationName } : {}),
    });
    client = next;
    next.on('error', reconnect);
    next.on('end', () => reconnect('the connection ended'));
    next.on('notification', (message) => {
      if (message.channel === channel) wake();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      if (client === next) reconnect(error);
      return;
    }
    if (closed) return;
    connects += 1;
    retryMs = FIRST_RETRY_MS;
    markReady();
    // Notifications sent while no session listened are lost: read once now.
    wake();
  };

  void connect();
  return {
    ready,
    get connects() {
      return connects;
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      if (debounce) clearTimeout(debounce);
      const open = client;
      client = undefined;
      if (!open) return;
      open.removeAllListeners();
      open.on('error', () => {});
      await open.end().catch(() => {});
    },
  };
}
