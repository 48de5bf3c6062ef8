import type { Redis } from 'ioredis';

type Socket = Redis['stream'];

/**
 * Sends the commands issued in one turn of the event loop in one socket write. ioredis writes each
 * command on its own: with many reads in flight, replies arrive in batches, each reply's caller sends
 * its next command, and every one of those is a write system call (on a loopback connection the
 * largest CPU cost of an L2 hit, more than all of Strata's own work). Holding the socket corked until
 * the end of the turn (`process.nextTick`, which runs once the promise jobs of the turn have run)
 * makes them one `writev`. Nothing waits longer than the turn that sent it (the uncork runs before
 * any I/O is polled); the one cost, as with ioredis' own `enableAutoPipelining`: synchronous work
 * done later in that same turn now delays the write instead of overlapping the round trip.
 *
 * Only while other commands are out (their replies are what make the batches) and only a ready
 * connection (before that, ioredis queues commands itself): a lone call is written at once, as before.
 *
 * @example
 * const coalesce = new WriteCoalescer(redis);
 * coalesce.hold(); // then send: every command sent until the turn ends goes in one write
 * await redis.mget(keys);
 */
export class WriteCoalescer {
  readonly #redis: Redis;
  /** The socket corked in this turn: a reconnect may replace `redis.stream` before it is uncorked. */
  #corked: Socket | undefined;
  readonly #release = () => {
    const socket = this.#corked;
    this.#corked = undefined;
    socket?.uncork();
  };

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  /** Holds this turn's writes until its end; one `process.nextTick` per turn, however many calls. */
  hold(): void {
    if (this.#corked !== undefined) return;
    const redis = this.#redis;
    const socket = redis.stream;
    // Nothing out: no replies are coming whose callers would send more, so this one goes at once.
    if (redis.commandQueue.length === 0) return;
    if (redis.status !== 'ready' || socket === undefined || !socket.writable) return;
    socket.cork();
    this.#corked = socket;
    process.nextTick(this.#release);
  }
}
