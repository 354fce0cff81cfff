//! The Lua script that folds one instance's batch of outcomes into a breaker's shared window
//! and answers the fleet's state, atomically (Redis runs a script as one command).
//!
//! The shared state is one hash: `st` (0 closed, 1 open, 2 half-open), `gen` (bumped by every
//! transition), `until` (end of the open time, Redis server time in ms), `since` (when
//! half-open began), `last` (newest window bucket), and per bucket `s{i}` / `f{i}` (successes
//! and failures). Time is the Redis server's, so instances need no synchronised clocks.

/// `KEYS[1]`: the state hash; `KEYS[2]`: the prefix of the half-open permit counters.
///
/// `ARGV`: successes, failures, probe report (0 none, 1 succeeded, 2 failed), the generation
/// the report is for, want a permit (0/1), failure rate in basis points, minimum calls, open
/// time ms, window ms, buckets, permits per half-open period, half-open limit ms, key ttl ms,
/// channel.
///
/// Returns `{state, generation, open time left in ms, permit granted (0/1)}`.
pub(super) const SYNC: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local succ, fail = tonumber(ARGV[1]), tonumber(ARGV[2])
local report, report_gen, want = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local bp, min_calls, open_ms = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local window_ms, buckets, permits = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local max_half_open, ttl, channel = tonumber(ARGV[12]), tonumber(ARGV[13]), ARGV[14]

local h = redis.call('HMGET', KEYS[1], 'st', 'gen', 'until', 'since', 'last')
local st, gen = tonumber(h[1]) or 0, tonumber(h[2]) or 0
local untl, since, last = tonumber(h[3]) or 0, tonumber(h[4]) or 0, tonumber(h[5])
local bucket_ms = math.max(1, math.floor(window_ms / buckets))
local cur = math.floor(now / bucket_ms)
local changed = false

local function clear_window()
  if last then
    for i = last - buckets + 1, last do
      redis.call('HDEL', KEYS[1], 's' .. i, 'f' .. i)
    end
  end
  last = nil
end
local function open()
  st, gen, untl, changed = 1, gen + 1, now + open_ms, true
  clear_window()
end

if st == 1 and now >= untl then
  st, gen, since, changed = 2, gen + 1, now, true
end
if st == 2 and now - since >= max_half_open then
  open()
end
if st == 2 and report_gen == gen then
  if report == 2 then
    open()
  elseif report == 1 then
    st, gen, changed = 0, gen + 1, true
    clear_window()
  end
end
if st == 0 and succ + fail > 0 then
  if last and cur > last then
    local from = math.max(last - buckets + 1, cur - 2 * buckets)
    for i = from, math.min(last, cur - buckets) do
      redis.call('HDEL', KEYS[1], 's' .. i, 'f' .. i)
    end
  end
  if not last or cur > last then last = cur end
  redis.call('HINCRBY', KEYS[1], 's' .. cur, succ)
  redis.call('HINCRBY', KEYS[1], 'f' .. cur, fail)
  local total, failed = 0, 0
  for i = cur - buckets + 1, cur do
    local c = redis.call('HMGET', KEYS[1], 's' .. i, 'f' .. i)
    local s, f = tonumber(c[1]) or 0, tonumber(c[2]) or 0
    total, failed = total + s + f, failed + f
  end
  if total >= min_calls and total > 0 and failed * 10000 >= bp * total then
    open()
  end
end

local permit = 0
if st == 2 and want == 1 then
  local pk = KEYS[2] .. gen
  local n = redis.call('INCR', pk)
  redis.call('PEXPIRE', pk, max_half_open + 1000)
  if n <= permits then permit = 1 end
end

redis.call('HSET', KEYS[1], 'st', st, 'gen', gen, 'until', untl, 'since', since)
if last then redis.call('HSET', KEYS[1], 'last', last) else redis.call('HDEL', KEYS[1], 'last') end
redis.call('PEXPIRE', KEYS[1], ttl)
local left = 0
if st == 1 then left = math.max(0, untl - now) end
if changed then
  redis.call('PUBLISH', channel, st .. ' ' .. gen .. ' ' .. left)
end
return {st, gen, left, permit}
"#;
