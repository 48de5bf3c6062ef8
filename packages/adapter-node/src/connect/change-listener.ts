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
  /**
   * The least time from one wake-up's start to the next's (default 20 ms): under a stream of
   * writes the relay reads at most this often, whatever the notification rate. Notifications while
   * a wake-up runs make exactly one more after it, so none is left for the interval to find.
   */
  minGapMs?: number;
  /**
   * Whether a notification's payload (the table's identity) concerns this app. Default: every one.
   * The channel is shared by every app of the database: another app's writes need not wake this one.
   */
  relevant?: (payload: string | undefined) => boolean;
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

  const minGapMs = options.minGapMs ?? 20;
  let running = false;
  let again = false;
  let lastStart = Number.NEGATIVE_INFINITY;
  const run = () => {
    debounce = undefined;
    if (closed) return;
    running = true;
    again = false;
    lastStart = performance.now();
    options
      .wake()
      .catch((error: unknown) => {
        options.logger?.warn('change listener: the relay failed', { error: String(error) });
      })
      .finally(() => {
        running = false;
        if (again) wake();
      });
  };
  // One wake-up at a time; what is notified meanwhile makes one more, no sooner than minGapMs.
  const wake = () => {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    if (debounce) return;
    const gap = Math.max(debounceMs, lastStart + minGapMs - performance.now());
    debounce = setTimeout(run, gap);
    debounce.unref?.();
  };
  const relevant = options.relevant ?? (() => true);

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
      if (message.channel === channel && relevant(message.payload)) wake();
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
