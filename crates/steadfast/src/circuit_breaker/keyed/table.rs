//! The sharded table behind [`KeyedBreakers`](super::KeyedBreakers): shards each with their
//! own lock and share of `max_keys`, a clock (second-chance) hand that finds a breaker to drop
//! when a shard is full, and the sweeps that drop idle breakers as calls arrive.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};
use std::time::Duration;

use tokio::time::Instant;

use super::error::{KeyTableFull, KeyedError};
use crate::circuit_breaker::breaker::CircuitBreaker;
use crate::circuit_breaker::builder::CircuitBreakerBuilder;
use crate::circuit_breaker::events::CircuitState;
use crate::sync::CachePadded;

pub(super) type Settings = Arc<dyn Fn() -> CircuitBreakerBuilder + Send + Sync>;
pub(super) type Namer<K> = Arc<dyn Fn(&K) -> String + Send + Sync>;

/// Breakers a shard aims to hold at most: the set is split into enough shards that each
/// holds at most about twice this many, so that any work under a shard's lock is short.
const SHARD_TARGET: usize = 128;
/// The most shards a set is split into (past about two million keys, shards grow instead).
const MAX_SHARDS: usize = 1 << 14;
/// A lookup refreshes its breaker's last-use time at most this often (nanoseconds), so that
/// a hot key's lookups read its entry's word without writing it.
const TOUCH_GRAIN: u64 = 1_000_000;
/// Bit 0 of an entry's `used` word: looked up since the clock hand last passed it.
const REFERENCED: u64 = 1;
/// Entries the clock hand checks for idleness on each new key of its shard.
const SWEEP_ON_INSERT: usize = 2;
/// Shards a lookup that finds a sweep due sweeps, at most.
const SHARDS_PER_SWEEP: usize = 4;
/// How long a shard found full of breakers that must be kept refuses new keys without
/// looking again (nanoseconds).
const FULL_RECHECK: u64 = 100_000_000;

/// The time of one operation on the set: as the breakers read it, and in nanoseconds from the
/// set's origin.
#[derive(Clone, Copy)]
struct Now {
    at: Instant,
    nanos: u64,
}

/// A breaker in the set, with its key and when it was last asked for.
struct Entry<K> {
    key: K,
    breaker: CircuitBreaker,
    /// Nanoseconds from the set's origin to the last lookup (refreshed at most once per
    /// [`TOUCH_GRAIN`]), with bit 0 the clock's reference bit ([`REFERENCED`]).
    used: AtomicU64,
}

impl<K> Entry<K> {
    #[inline]
    fn touch(&self, now: u64) {
        let word = self.used.load(Ordering::Relaxed);
        if word & REFERENCED == 0 || now.saturating_sub(word) >= TOUCH_GRAIN {
            self.used.store(now | REFERENCED, Ordering::Relaxed);
        }
    }
}

/// How firmly the set holds on to a breaker, from its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// Never dropped: open with open time left, or forced open.
    Pinned,
    /// Dropped only once idle: open with its open time over, or half-open.
    UntilIdle,
    /// Dropped once idle, or to make room: closed, disabled or metrics-only.
    Free,
}

fn hold(breaker: &CircuitBreaker, now: Instant) -> Hold {
    match breaker.state() {
        CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly => Hold::Free,
        CircuitState::ForcedOpen => Hold::Pinned,
        CircuitState::HalfOpen => Hold::UntilIdle,
        CircuitState::Open => match breaker.open_remaining(now) {
            Some(left) if !left.is_zero() => Hold::Pinned,
            _ => Hold::UntilIdle,
        },
    }
}

/// An entry in a shard's index, hashed and compared by its key.
struct Slot<K>(Arc<Entry<K>>);

impl<K: Hash> Hash for Slot<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key.hash(state);
    }
}

impl<K: PartialEq> PartialEq for Slot<K> {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}

impl<K: Eq> Eq for Slot<K> {}

impl<K> Borrow<K> for Slot<K> {
    fn borrow(&self) -> &K {
        &self.0.key
    }
}

/// One shard's breakers: an index by key, and a ring of the same entries that a clock hand
/// walks to find breakers to drop.
struct Table<K> {
    index: HashSet<Slot<K>>,
    ring: Vec<Arc<Entry<K>>>,
    /// Where the search for a breaker to drop goes on from.
    hand: usize,
    /// Where the check for idle breakers on new keys goes on from (a hand of its own, so that
    /// it does not carry the clock hand past entries it has not judged).
    idle_hand: usize,
    /// Entries the hand has looked at (for the tests that bound the work per new key).
    #[cfg(test)]
    visits: u64,
}

impl<K> Table<K> {
    fn new() -> Self {
        Table {
            index: HashSet::new(),
            ring: Vec::new(),
            hand: 0,
            idle_hand: 0,
            #[cfg(test)]
            visits: 0,
        }
    }
}

impl<K: Hash + Eq> Table<K> {
    fn len(&self) -> usize {
        self.ring.len()
    }

    fn push(&mut self, entry: Arc<Entry<K>>) {
        self.ring.push(entry.clone());
        self.index.insert(Slot(entry));
    }

    fn remove_at(&mut self, i: usize) -> Arc<Entry<K>> {
        let entry = self.ring.swap_remove(i);
        self.index.remove(&entry.key);
        entry
    }

    /// Whether the entry at `i` goes: idle (and not pinned), or, when room is needed, a free
    /// breaker not looked up since the hand last passed (whose reference bit is cleared
    /// otherwise: its second chance).
    fn goes(&mut self, i: usize, now: Now, idle: u64, need_room: bool) -> bool {
        #[cfg(test)]
        {
            self.visits += 1;
        }
        let entry = &self.ring[i];
        let hold = hold(&entry.breaker, now.at);
        if hold == Hold::Pinned {
            return false;
        }
        let word = entry.used.load(Ordering::Relaxed);
        if now.nanos.saturating_sub(word & !REFERENCED) >= idle {
            return true;
        }
        if !need_room || hold == Hold::UntilIdle {
            return false;
        }
        if word & REFERENCED != 0 {
            entry.used.store(word & !REFERENCED, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Moves the idle hand over up to `n` entries, dropping the idle ones into `gone`.
    fn sweep_some(&mut self, n: usize, now: Now, idle: u64, gone: &mut Vec<Arc<Entry<K>>>) {
        for _ in 0..n {
            if self.ring.is_empty() {
                return;
            }
            if self.idle_hand >= self.ring.len() {
                self.idle_hand = 0;
            }
            if self.goes(self.idle_hand, now, idle, false) {
                gone.push(self.remove_at(self.idle_hand));
            } else {
                self.idle_hand += 1;
            }
        }
    }

    /// Drops one breaker to make room: the first the hand finds idle, or free and not looked
    /// up since its last pass. At most two rounds of the ring (the first may only clear
    /// reference bits); `None` when every breaker must be kept.
    fn evict_one(&mut self, now: Now, idle: u64) -> Option<Arc<Entry<K>>> {
        for _ in 0..2 * self.ring.len() {
            if self.hand >= self.ring.len() {
                self.hand = 0;
            }
            if self.goes(self.hand, now, idle, true) {
                return Some(self.remove_at(self.hand));
            }
            self.hand += 1;
        }
        None
    }

    /// Drops every idle breaker into `gone`, and gives memory back if the shard is mostly
    /// empty.
    fn sweep_all(&mut self, now: Now, idle: u64, gone: &mut Vec<Arc<Entry<K>>>) {
        let mut i = 0;
        while i < self.ring.len() {
            if self.goes(i, now, idle, false) {
                gone.push(self.remove_at(i));
            } else {
                i += 1;
            }
        }
        let len = self.ring.len();
        if self.index.capacity() >= 64 && len * 4 <= self.index.capacity() {
            self.index.shrink_to(len * 2);
            self.ring.shrink_to(len * 2);
        }
    }
}

/// A slice of the set, with its own lock and its share of the bound.
struct Shard<K> {
    table: RwLock<Table<K>>,
    /// How many breakers this shard may hold.
    quota: usize,
    /// Until when (nanoseconds from the set's origin) a new key is refused without looking:
    /// the last look found every breaker here pinned.
    full_until: AtomicU64,
}

impl<K> Shard<K> {
    fn read(&self) -> RwLockReadGuard<'_, Table<K>> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table<K>> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// A cheap keyed hash that picks a key's shard (the shard's own index hashes the key again
/// with the standard library's keyed hasher).
struct ShardHasher(u64);

impl ShardHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Hasher for ShardHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    /// The mixed word: its high bits are the well-mixed ones (the shard is taken from them).
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The shared state of a [`KeyedBreakers`](super::KeyedBreakers): its settings and its shards.
pub(super) struct Inner<K> {
    settings: Settings,
    names: Option<Namer<K>>,
    pub(super) max_keys: usize,
    pub(super) idle_timeout: Duration,
    /// `idle_timeout` in nanoseconds.
    idle: u64,
    origin: Instant,
    shards: Box<[CachePadded<Shard<K>>]>,
    /// Seeds the shard hash, so that which keys share a shard cannot be known from outside.
    seed: u64,
    pub(super) len: AtomicUsize,
    /// When (nanoseconds from the origin) the next timed sweep is due.
    next_sweep: AtomicU64,
    /// Nanoseconds between timed sweeps: each sweeps the next shard, so the whole set is
    /// swept every half idle timeout while calls arrive.
    sweep_every: u64,
    sweep_cursor: AtomicUsize,
}

impl<K> Inner<K> {
    /// The settings every key's breaker is built with (for the set's description).
    pub(super) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// An empty set of `max_keys` (at least 1) split into shards, its breakers idle after
    /// `idle_timeout` (more than zero).
    pub(super) fn new(
        settings: Settings,
        names: Option<Namer<K>>,
        max_keys: usize,
        idle_timeout: Duration,
    ) -> Self {
        let shards = (max_keys / SHARD_TARGET)
            .next_power_of_two()
            .min(MAX_SHARDS);
        let (share, extra) = (max_keys / shards, max_keys % shards);
        let idle = idle_timeout.as_nanos().min(u128::from(u64::MAX)) as u64;
        let sweep_every = (idle / 2 / shards as u64).max(TOUCH_GRAIN);
        Inner {
            settings,
            names,
            max_keys,
            idle_timeout,
            idle,
            origin: Instant::now(),
            shards: (0..shards)
                .map(|i| {
                    CachePadded(Shard {
                        table: RwLock::new(Table::new()),
                        quota: share + usize::from(i < extra),
                        full_until: AtomicU64::new(0),
                    })
                })
                .collect(),
            seed: RandomState::new().hash_one(0x5eed_u64),
            len: AtomicUsize::new(0),
            next_sweep: AtomicU64::new(sweep_every),
            sweep_every,
            sweep_cursor: AtomicUsize::new(0),
        }
    }

    /// How many shards the set is split into.
    pub(super) fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

impl<K> Inner<K>
where
    K: Hash + Eq + Clone,
{
    fn now(&self) -> Now {
        let at = Instant::now();
        let nanos = at
            .saturating_duration_since(self.origin)
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64;
        Now { at, nanos }
    }

    pub(super) fn shard_index(&self, key: &K) -> usize {
        let shards = self.shards.len();
        if shards == 1 {
            return 0;
        }
        let mut h = ShardHasher(self.seed);
        key.hash(&mut h);
        (h.finish() >> (64 - shards.trailing_zeros())) as usize
    }

    fn shard(&self, key: &K) -> &Shard<K> {
        &self.shards[self.shard_index(key)]
    }

    /// The breaker for `key`, made if needed.
    ///
    /// Fails only for a new key: with [`KeyedError::Full`] when every slot that could take it
    /// holds an open circuit (see [`KeyTableFull`]).
    pub(super) fn get(&self, key: &K) -> Result<CircuitBreaker, KeyedError> {
        let now = self.now();
        if now.nanos >= self.next_sweep.load(Ordering::Relaxed) {
            self.sweep_due(now);
        }
        let shard = self.shard(key);
        if let Some(slot) = shard.read().index.get(key) {
            slot.0.touch(now.nanos);
            return Ok(slot.0.breaker.clone());
        }
        self.insert(shard, key, now)
    }

    #[cold]
    #[inline(never)]
    fn insert(&self, shard: &Shard<K>, key: &K, now: Now) -> Result<CircuitBreaker, KeyedError> {
        let full = || {
            KeyedError::Full(KeyTableFull {
                slots: shard.quota,
                trace: None,
            })
        };
        if now.nanos < shard.full_until.load(Ordering::Relaxed) {
            return Err(full());
        }
        let mut settings = (self.settings)();
        if let Some(names) = &self.names {
            settings = settings.name(names(key));
        }
        let breaker = settings.build().map_err(KeyedError::Config)?;
        // Breakers dropped here are freed once the lock is released.
        let mut gone = Vec::new();
        let idle = self.idle;
        let mut table = shard.write();
        if let Some(slot) = table.index.get(key) {
            slot.0.touch(now.nanos);
            return Ok(slot.0.breaker.clone());
        }
        let before = table.len();
        table.sweep_some(SWEEP_ON_INSERT, now, idle, &mut gone);
        if table.len() >= shard.quota {
            match table.evict_one(now, idle) {
                Some(entry) => gone.push(entry),
                None => {
                    shard
                        .full_until
                        .store(now.nanos.saturating_add(FULL_RECHECK), Ordering::Relaxed);
                    // The count changes under the lock, so it never runs behind a removal.
                    self.len.fetch_sub(gone.len(), Ordering::Relaxed);
                    drop(table);
                    return Err(full());
                }
            }
        }
        table.push(Arc::new(Entry {
            key: key.clone(),
            breaker: breaker.clone(),
            used: AtomicU64::new(now.nanos & !REFERENCED),
        }));
        let after = table.len();
        if after > before {
            self.len.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.len.fetch_sub(before - after, Ordering::Relaxed);
        }
        drop(table);
        Ok(breaker)
    }

    /// A timed sweep is due: the caller that claims it sweeps the next shards, as many as
    /// sweeps fell due since (at most [`SHARDS_PER_SWEEP`]), skipping any shard whose lock is
    /// taken.
    #[cold]
    #[inline(never)]
    fn sweep_due(&self, now: Now) {
        let inner = self;
        let due = inner.next_sweep.load(Ordering::Relaxed);
        if now.nanos < due {
            return;
        }
        // Sweeps owed since the one due, this one included; the schedule keeps its pace
        // unless more are owed than one call sweeps.
        let owed = (now.nanos - due) / inner.sweep_every + 1;
        let n = owed.min(SHARDS_PER_SWEEP as u64);
        let next = if owed > n {
            now.nanos.saturating_add(inner.sweep_every)
        } else {
            due.saturating_add(n * inner.sweep_every)
        };
        if inner
            .next_sweep
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let mut gone = Vec::new();
        for _ in 0..(n as usize).min(inner.shards.len()) {
            let i = inner.sweep_cursor.fetch_add(1, Ordering::Relaxed) & (inner.shards.len() - 1);
            let shard = &inner.shards[i];
            let mut table = match shard.table.try_write() {
                Ok(table) => table,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            table.sweep_all(now, inner.idle, &mut gone);
            inner.len.fetch_sub(gone.len(), Ordering::Relaxed);
            drop(table);
            if !gone.is_empty() {
                shard.full_until.store(0, Ordering::Relaxed);
                gone.clear();
            }
        }
    }

    /// The breaker for `key` if the set holds one, without making it (and without counting
    /// as a use).
    pub(super) fn peek(&self, key: &K) -> Option<CircuitBreaker> {
        self.shard(key)
            .read()
            .index
            .get(key)
            .map(|slot| slot.0.breaker.clone())
    }

    /// Drops every breaker idle for longer than the idle timeout at once (open breakers only
    /// once their open time is over; forced-open ones never); returns how many. Idle
    /// breakers also go without this, as calls arrive.
    pub(super) fn evict_idle(&self) -> usize {
        let now = self.now();
        let mut total = 0;
        let mut gone = Vec::new();
        for shard in self.shards.iter() {
            let mut table = shard.write();
            table.sweep_all(now, self.idle, &mut gone);
            self.len.fetch_sub(gone.len(), Ordering::Relaxed);
            drop(table);
            if !gone.is_empty() {
                total += gone.len();
                shard.full_until.store(0, Ordering::Relaxed);
                gone.clear();
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit_breaker::{CircuitBreakerBuilder, KeyedBreakers, SlidingWindow};

    fn cheap() -> CircuitBreakerBuilder {
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .no_failure_rate()
            .window(SlidingWindow::count(1))
            .minimum_calls(1)
    }

    fn visits(set: &KeyedBreakers<u64>, shard: usize) -> u64 {
        set.inner.shards[shard].read().visits
    }

    #[test]
    fn a_new_key_costs_bounded_work_at_a_million_keys() {
        let set = KeyedBreakers::builder(cheap)
            .max_keys(1_000_000)
            .build()
            .unwrap();
        let shards = &set.inner.shards;
        assert_eq!(shards.len(), 8_192);
        assert!(shards.iter().all(|s| s.quota <= 2 * SHARD_TARGET));
        assert_eq!(shards.iter().map(|s| s.quota).sum::<usize>(), 1_000_000);

        // Fill shard 0 (the others may stay empty: work on a new key never leaves its shard).
        let quota = shards[0].quota;
        let mut keys = (0u64..).filter(|k| set.inner.shard_index(k) == 0);
        let hot: Vec<u64> = keys.by_ref().take(10).collect();
        for k in keys
            .by_ref()
            .take(quota - hot.len())
            .chain(hot.iter().copied())
        {
            set.get(&k).unwrap();
        }
        assert_eq!(set.len(), quota);

        // New keys keep coming while ten keys stay in use.
        let n = 2_000;
        let start = visits(&set, 0);
        let mut most = 0;
        for k in keys.by_ref().take(n) {
            for h in &hot {
                set.get(h).unwrap();
            }
            let before = visits(&set, 0);
            set.get(&k).unwrap();
            most = most.max(visits(&set, 0) - before);
            assert_eq!(set.len(), quota);
        }
        let average = (visits(&set, 0) - start) as f64 / n as f64;
        assert!(
            most <= (2 * quota + SWEEP_ON_INSERT) as u64,
            "one new key looked at {most} entries"
        );
        assert!(average <= 4.0, "{average} entries looked at per new key");
        for h in &hot {
            assert!(set.peek(h).is_some(), "key {h} in use was dropped");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_mostly_empty_shard_gives_memory_back() {
        let set = KeyedBreakers::builder(cheap)
            .max_keys(255)
            .idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        for k in 0..255 {
            set.get(&k).unwrap();
        }
        assert!(set.inner.shards[0].read().index.capacity() >= 255);
        tokio::time::advance(Duration::from_secs(61)).await;
        set.get(&0).unwrap();
        assert_eq!(set.len(), 1);
        let table = set.inner.shards[0].read();
        assert!(table.index.capacity() < 64, "{}", table.index.capacity());
        assert!(table.ring.capacity() < 64, "{}", table.ring.capacity());
    }

    #[test]
    fn keys_spread_evenly_over_shards() {
        let ints = KeyedBreakers::<u64>::builder(cheap)
            .max_keys(1_024)
            .build()
            .unwrap();
        let strings = KeyedBreakers::<String>::builder(cheap)
            .max_keys(1_024)
            .build()
            .unwrap();
        assert_eq!(ints.inner.shards.len(), 8);
        let mut by_int = [0u32; 8];
        let mut by_string = [0u32; 8];
        for k in 0..8_192u64 {
            by_int[ints.inner.shard_index(&k)] += 1;
            by_string[strings.inner.shard_index(&format!("/users/{k}/orders"))] += 1;
        }
        for n in by_int.iter().chain(&by_string) {
            assert!((800..1_250).contains(n), "{by_int:?} {by_string:?}");
        }
    }
}
