"""The Redis job store's server-side scripts: each changes a job and appends its event atomically.

Atomic matters for two reasons. A reader that sees an event can always read the state it announces.
And a job reclaimed from a consumer that was only slow (not dead) cannot be finished twice: every
write checks that the writer is still the job's `owner`, which only the latest claim sets.

The snapshot (the JSON that status replies and progress events carry) is built here, once, by
SNAPSHOT; Python reads it through the `snapshot` script instead of building its own copy.
"""

from __future__ import annotations

# Keys of one job (bff.redis_jobs.JobKeys): KEYS[1] its hash, KEYS[2] its event stream, KEYS[3] its result,
# KEYS[4] its uploaded photo or clip. Only FINISH takes all four; READ, START and PROGRESS are given the
# first two. Fields of the hash: state, done, total, attempts, owner, options, created, started, finished,
# batch, work, cancelled, version, mime_type, filename, status, error, message, retry_after.
SNAPSHOT = """
local function snapshot(key, id)
  local f = redis.call('HMGET', key, 'state', 'done', 'total', 'version', 'status', 'error', 'message')
  if not f[1] then return false end
  local s = {id = id, state = f[1], done = tonumber(f[2]) or 0, total = tonumber(f[3]) or 0}
  if f[4] then s.version = tonumber(f[4]) end
  if f[5] then s.status = tonumber(f[5]); s.error = f[6]; s.message = f[7] end
  return cjson.encode(s)
end
local function emit(events, kind, snap)
  return redis.call('XADD', events, 'MAXLEN', '~', '200', '*', 'event', kind, 'data', snap)
end
local function finished(state)
  return state == 'done' or state == 'failed'
end
"""

# ARGV: id. Returns the snapshot JSON, or nil when the job does not exist (never did, or expired).
READ = SNAPSHOT + """
return snapshot(KEYS[1], ARGV[1])
"""

# ARGV: id, owner, now. Makes `owner` the job's runner. Returns {'ok', attempts}, or {'gone'} for a job
# that expired, or {'finished'} for one that another consumer already finished.
START = SNAPSHOT + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'gone', 0} end
if finished(state) then return {'finished', 0} end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[2], 'started', ARGV[3])
emit(KEYS[2], 'progress', snapshot(KEYS[1], ARGV[1]))
return {'ok', attempts}
"""

# ARGV: id, owner, done, total. Returns 1, or 0 when `owner` no longer runs the job.
PROGRESS = SNAPSHOT + """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return 0 end
if finished(redis.call('HGET', KEYS[1], 'state')) then return 0 end
redis.call('HSET', KEYS[1], 'done', ARGV[3], 'total', ARGV[4])
emit(KEYS[2], 'progress', snapshot(KEYS[1], ARGV[1]))
return 1
"""

# KEYS: hash, events, result, input. ARGV: id, owner, ttl seconds, state ('done' or 'failed'), result
# bytes (empty when failed), n, then n field/value pairs for a job that was cancelled (the error
# bff.jobs.JobCancelled as bff.tasks.error_fields writes it, and when it finished), then the field/value
# pairs for the hash. A job asked to end 'done' whose hash has `cancelled` ends 'failed' with the first n
# pairs instead, and keeps no result: a cancel that came after the runner's last look at the flag is
# still what was asked, as in the memory store, which decides it under the job's lock. Returns 1, or 0
# when `owner` lost the job (reclaimed by another consumer) or it was already finished: then nothing is
# written. The upload is dropped, but a batch's photo expires with the result.
FINISH = SNAPSHOT + """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
if not state or finished(state) then return 0 end
local ending, cancel_pairs = ARGV[4], tonumber(ARGV[6])
local first, last = 7 + 2 * cancel_pairs, #ARGV
if ending == 'done' and redis.call('HEXISTS', KEYS[1], 'cancelled') == 1 then
  ending, first, last = 'failed', 7, 6 + 2 * cancel_pairs
end
redis.call('HSET', KEYS[1], 'state', ending, 'owner', '')
for i = first, last, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ending == 'done' then
  redis.call('HSET', KEYS[1], 'done', redis.call('HGET', KEYS[1], 'total') or '0')
  redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[3])
end
if (redis.call('HGET', KEYS[1], 'batch') or '') == '' then
  redis.call('DEL', KEYS[4])
else  -- a batch's photo stays as long as its result, for the page's before image
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
emit(KEYS[2], ending == 'done' and 'done' or 'error', snapshot(KEYS[1], ARGV[1]))
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS[1]: the work stream. ARGV: group, consumer, then message ids this consumer believes it runs.
# Resets their idle time (so the reaper leaves them alone) and returns the ids that another consumer
# has reclaimed meanwhile: their work is no longer this consumer's to finish.
HEARTBEAT = """
local lost = {}
for i = 3, #ARGV do
  local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if entry[1] and entry[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""
