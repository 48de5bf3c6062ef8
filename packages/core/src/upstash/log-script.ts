import { StrataError } from '../errors.js';

/**
 * One atomic read of the invalidation log: where the stream ends, how far it was trimmed, and the
 * entries after the cursor — in one request, so the trim check and the read see the same stream.
 * KEYS[1] = stream; ARGV[1] = cursor ('' = no read, only the bounds), ARGV[2] = max entries.
 *
 * The reply is flat and all strings: `[lastGeneratedId, maxDeletedId, firstId, entriesAdded, length,
 * id1, msg1, id2, msg2, …]`, '' for "none or not reported" (a nil would end a Lua table; Redis
 * before 7 has no `max-deleted-entry-id` or `entries-added`, and other servers may lack them too).
 * Messages come back tagged with a leading `~` ('' when the entry has no `m` field), so a client that
 * JSON-parses replies (`@upstash/redis` with automatic deserialization) hands them over untouched.
 */
export const LOG_READ_SCRIPT = `local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return {'', '', '', '', ''} end
local info = redis.call('XINFO', 'STREAM', key)
local out = {'', '', '', '', ''}
for i = 1, #info, 2 do
  local name, value = info[i], info[i + 1]
  if name == 'last-generated-id' then out[1] = value
  elseif name == 'max-deleted-entry-id' then out[2] = value
  elseif name == 'first-entry' and type(value) == 'table' then out[3] = value[1]
  elseif name == 'entries-added' then out[4] = tostring(value)
  elseif name == 'length' then out[5] = tostring(value) end
end
if ARGV[1] ~= '' then
  local entries = redis.call('XRANGE', key, '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
  for _, entry in ipairs(entries) do
    local fields, message = entry[2], ''
    for j = 1, #fields, 2 do
      if fields[j] == 'm' then message = '~' .. fields[j + 1] end
    end
    out[#out + 1] = entry[1]
    out[#out + 1] = message
  end
end
return out`;

export interface LogEntry {
  id: string;
  /** The `m` field; undefined when the entry has none (it is counted as dropped). */
  payload: string | undefined;
}

/** The stream as {@link LOG_READ_SCRIPT} saw it; '' = unknown or none. */
export interface LogSnapshot {
  /** '' when the stream does not exist. */
  lastId: string;
  /** The highest id removed by XDEL (trimming does not count); '' when not reported (before Redis 7). */
  maxDeletedId: string;
  /** '' when the stream is empty. */
  firstId: string;
  /** How many entries were ever added; undefined when not reported (before Redis 7). */
  entriesAdded: number | undefined;
  /** How many entries the stream holds now. */
  length: number;
  entries: LogEntry[];
}

/** Reads the script's reply; throws `L2_UNAVAILABLE` on a shape it cannot have produced. */
export function parseLogReply(reply: unknown): LogSnapshot {
  // A client that JSON-parses replies turns the two counts into numbers: take them back as text.
  const texts = Array.isArray(reply)
    ? reply.map((item) => (typeof item === 'number' ? String(item) : item))
    : [];
  if (texts.length < 5 || texts.length % 2 === 0 || !texts.every(isString)) {
    throw new StrataError('L2_UNAVAILABLE', 'invalidation log: unexpected reply from the read script', {
      details: { length: texts.length },
    });
  }
  const [lastId = '', maxDeletedId = '', firstId = '', added = '', length = '', ...rest] = texts as string[];
  const entries: LogEntry[] = [];
  for (let i = 0; i + 1 < rest.length; i += 2) {
    const message = rest[i + 1] ?? '';
    entries.push({ id: rest[i] ?? '', payload: message.startsWith('~') ? message.slice(1) : undefined });
  }
  return {
    lastId,
    maxDeletedId,
    firstId,
    entriesAdded: added === '' ? undefined : Number(added),
    length: Number(length || '0'),
    entries,
  };
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
