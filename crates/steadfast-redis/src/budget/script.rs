//! The Lua script of a shared retry budget: one call adds an instance's batch of requests and
//! successes to the fleet's balance, takes back its unused lease, and leases it new retries,
//! atomically. The balance is one integer key in thousandths of a retry.

/// `KEYS[1]`: the balance. `ARGV`: requests, successes, thousandths returned (negative: taken,
/// for retries an instance granted alone while Redis did not answer; the balance may then go
/// below zero, down to minus its capacity, and leases nothing until it is above), retries wanted,
/// thousandths per request, thousandths per success, capacity in thousandths, starting
/// balance in thousandths, key ttl ms. Returns `{retries leased, balance left in thousandths}`.
pub(super) const LEASE: &str = r#"
local req, succ, returned, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local per_req, per_succ, cap, start = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local v = redis.call('GET', KEYS[1])
local level = start
if v then level = tonumber(v) end
level = math.max(-cap, math.min(cap, level + req * per_req + succ * per_succ + returned))
local take = math.max(0, math.min(want, math.floor(level / 1000)))
level = level - take * 1000
redis.call('SET', KEYS[1], level, 'PX', tonumber(ARGV[9]))
return {take, level}
"#;
