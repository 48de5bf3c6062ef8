/**
 * The commands the REST endpoint passes to Redis: those Upstash documents for its REST API (the
 * "Redis API compatibility" page) and those `@upstash/redis` itself sends. Everything else is
 * refused before it reaches Redis, as Upstash refuses it: MIGRATE, CONFIG, CLIENT KILL/PAUSE,
 * DEBUG, SHUTDOWN, REPLICAOF… would let an HTTP client reconfigure, freeze or redirect the
 * machine's Redis. Upstash-only families Redis does not have (vector, search, arrays) are left out.
 * Commands that change connection state (SELECT, MULTI, SUBSCRIBE…) are refused in `commands.ts`
 * with their own hint. Lua scripts run what Redis allows inside a script: this cannot filter them.
 */

const words = (text: string): string[] => text.trim().split(/\s+/);

const COMMANDS = new Set(
  words(`
    APPEND DECR DECRBY GET GETDEL GETEX GETRANGE GETSET INCR INCRBY INCRBYFLOAT MGET MSET MSETNX
    PSETEX SET SETEX SETNX SETRANGE STRLEN
    BITCOUNT BITFIELD BITFIELD_RO BITOP BITPOS GETBIT SETBIT
    HDEL HEXISTS HEXPIRE HEXPIREAT HEXPIRETIME HGET HGETALL HGETDEL HGETEX HINCRBY HINCRBYFLOAT
    HKEYS HLEN HMGET HMSET HPERSIST HPEXPIRE HPEXPIREAT HPEXPIRETIME HPTTL HRANDFIELD HSCAN HSET
    HSETEX HSETNX HSTRLEN HTTL HVALS
    BLMOVE BLMPOP BLPOP BRPOP BRPOPLPUSH LINDEX LINSERT LLEN LMOVE LMPOP LPOP LPOS LPUSH LPUSHX
    LRANGE LREM LSET LTRIM RPOP RPOPLPUSH RPUSH RPUSHX
    SADD SCARD SDIFF SDIFFSTORE SINTER SINTERCARD SINTERSTORE SISMEMBER SMEMBERS SMISMEMBER SMOVE
    SPOP SRANDMEMBER SREM SSCAN SUNION SUNIONSTORE
    BZMPOP BZPOPMAX BZPOPMIN ZADD ZCARD ZCOUNT ZDIFF ZDIFFSTORE ZINCRBY ZINTER ZINTERCARD
    ZINTERSTORE ZLEXCOUNT ZMPOP ZMSCORE ZPOPMAX ZPOPMIN ZRANDMEMBER ZRANGE ZRANGESTORE ZRANGEBYLEX
    ZRANGEBYSCORE ZRANK ZREM ZREMRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREVRANGE
    ZREVRANGEBYLEX ZREVRANGEBYSCORE ZREVRANK ZSCAN ZSCORE ZUNION ZUNIONSTORE
    GEOADD GEODIST GEOHASH GEOPOS GEORADIUS GEORADIUS_RO GEORADIUSBYMEMBER GEORADIUSBYMEMBER_RO
    GEOSEARCH GEOSEARCHSTORE
    PFADD PFCOUNT PFMERGE
    EVAL EVALSHA EVAL_RO EVALSHA_RO FCALL FCALL_RO
    PUBLISH
    COPY DEL DUMP EXISTS EXPIRE EXPIREAT EXPIRETIME KEYS PERSIST PEXPIRE PEXPIREAT PEXPIRETIME PTTL
    RANDOMKEY RENAME RENAMENX RESTORE SCAN TOUCH TTL TYPE UNLINK
    ECHO PING
    DBSIZE FLUSHALL FLUSHDB TIME
    JSON.ARRAPPEND JSON.ARRINDEX JSON.ARRINSERT JSON.ARRLEN JSON.ARRPOP JSON.ARRTRIM JSON.CLEAR
    JSON.DEL JSON.FORGET JSON.GET JSON.MERGE JSON.MGET JSON.MSET JSON.NUMINCRBY JSON.NUMMULTBY
    JSON.OBJKEYS JSON.OBJLEN JSON.RESP JSON.SET JSON.STRAPPEND JSON.STRLEN JSON.TOGGLE JSON.TYPE
    XACK XACKDEL XADD XAUTOCLAIM XCLAIM XDEL XDELEX XLEN XPENDING XRANGE XREAD XREADGROUP
    XREVRANGE XTRIM
  `),
);

/** Container commands: allowed with these subcommands only. */
const SUBCOMMANDS = new Map<string, Set<string>>([
  ['SCRIPT', new Set(words('EXISTS LOAD FLUSH'))],
  ['FUNCTION', new Set(words('LOAD LIST DELETE FLUSH STATS'))],
  ['XGROUP', new Set(words('CREATE CREATECONSUMER DELCONSUMER DESTROY SETID'))],
  ['XINFO', new Set(words('GROUPS CONSUMERS'))],
  ['PUBSUB', new Set(words('CHANNELS NUMSUB NUMPAT SHARDCHANNELS SHARDNUMSUB'))],
  // Upstash's ACL manages its own users; on the machine's Redis only the read-only ones are harmless.
  ['ACL', new Set(words('WHOAMI CAT'))],
]);

/** Refused whatever the subcommand; named with it in the error, so `CLIENT KILL` reads as such. */
const REFUSED_CONTAINERS = new Set(
  words('CLIENT CLUSTER COMMAND CONFIG DEBUG LATENCY MEMORY MODULE OBJECT SLOWLOG'),
);

/**
 * Why `name [subcommand]` is refused, or undefined when it may run. `name` is upper case.
 * @example refusal('CONFIG', 'SET') // 'ERR CONFIG SET is not supported over REST: …'
 * @example refusal('SCRIPT', 'load') // undefined
 */
export function refusal(name: string, subcommand: string | undefined): string | undefined {
  if (COMMANDS.has(name)) return undefined;
  const allowed = SUBCOMMANDS.get(name);
  const sub = subcommand?.toUpperCase();
  if (allowed && sub !== undefined && allowed.has(sub)) return undefined;
  const container = allowed !== undefined || REFUSED_CONTAINERS.has(name);
  const shown = container && sub !== undefined ? `${name} ${sub}` : name;
  // The name is the client's own text: keep a hostile one from making a megabyte error.
  return `ERR ${shown.slice(0, 100)} is not supported over REST: the Upstash REST API does not offer it`;
}
