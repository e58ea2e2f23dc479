//! Request limits of the ingest endpoints, and the token buckets that enforce their rates.
//!
//! Every limit here is checked *before* the work it guards: sizes before reading, rates
//! before verifying. [`Limits::default`] suits one public oracle on modest hardware; each
//! field documents its default and why.
//!
//! [`RateLimiter`] is a token bucket per key (a client IP, a claimed device), kept in a
//! bounded map so that a flood of new keys costs bounded memory: see
//! [`RateLimiter::check`] for what happens when the map is full.

use std::{
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::FastMap;

/// The shortest retry-after a full [`RateLimiter`] map hands a new key.
const MIN_FULL_RETRY: Duration = Duration::from_millis(10);

/// A sustained rate with a burst allowance: `per_second` tokens a second on average, and
/// up to `burst` tokens back to back after a quiet period (a bucket of `burst` tokens,
/// refilled at `per_second`).
///
/// `per_second == 0` means unlimited (nothing is counted or tracked). A `burst` of 0 is
/// used as 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Sustained tokens per second; 0 is unlimited.
    pub per_second: u32,
    /// The bucket's size: tokens that may be spent at once after a rest (at least 1 is used).
    pub burst: u32,
}

impl Rate {
    /// No limit at all.
    pub const UNLIMITED: Rate = Rate {
        per_second: 0,
        burst: 0,
    };

    /// A rate of `per_second` sustained with bursts of `burst`.
    pub const fn new(per_second: u32, burst: u32) -> Self {
        Rate { per_second, burst }
    }

    /// Whether this rate limits nothing (`per_second == 0`).
    pub const fn is_unlimited(&self) -> bool {
        self.per_second == 0
    }

    /// The bucket's size in tokens (`burst`, at least 1).
    fn capacity(&self) -> u32 {
        self.burst.max(1)
    }

    /// The time it takes to earn `tokens` at this rate (zero when unlimited).
    fn time_for(&self, tokens: u32) -> Duration {
        if self.per_second == 0 {
            return Duration::ZERO;
        }
        // u32::MAX * 1e9 < u64::MAX: no overflow.
        Duration::from_nanos(u64::from(tokens) * 1_000_000_000 / u64::from(self.per_second))
    }
}

/// The limits of one ingest endpoint (HTTP; the other channels use the relevant subset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body, in bytes. Default 4 MiB: a full batch of
    /// [`max_items_per_request`](Self::max_items_per_request) items of
    /// [`max_item_bytes`](Self::max_item_bytes) each is 8 MiB raw, but real frames are a
    /// few hundred bytes, so 4 MiB holds a full batch of them with room for base64 and JSON
    /// overhead, while one connection can pin at most this much memory.
    pub max_body_bytes: usize,
    /// The most items in one request. Default 4096: enough to amortise the durable commit
    /// over a gateway's backlog, small enough that one request is one bounded unit of work.
    pub max_items_per_request: usize,
    /// The largest single item (frame or envelope), in bytes. Default 2048: well above any
    /// built-in attestation (a signed report is a few hundred bytes); anything larger is
    /// refused before it is copied or verified.
    pub max_item_bytes: usize,
    /// How long a client may take to send its request body once the headers are in.
    /// Default 10 s: a 4 MiB body at 4 Mbit/s, so honest slow links pass while a client
    /// trickling bytes (slowloris) holds a connection for at most this long.
    pub body_timeout: Duration,
    /// Items per second per client (the peer IP; IPv6 by its /64). Default 1000/s with a
    /// burst of 4096, so one full batch passes after a rest and a single address cannot
    /// take more than a thousand verifications a second. Raise it (or use
    /// [`Rate::UNLIMITED`]) for known aggregating gateways.
    pub client_rate: Rate,
    /// Items per second per claimed sender (the item's unverified key hint, see
    /// `ItemBytes::claimed_sender`). Default 20/s with a burst of 1024: a device reports
    /// far more rarely, and the burst lets a gateway upload a device's backlog after an
    /// outage (a day of reports every 90 s) in one go. The hint is not authenticated, so
    /// anyone may spend a device's bucket by forging its hint; the defaults are generous
    /// so that such forgery only slows the victim's uploads over this endpoint, while
    /// capping the signature checks any one key can attract at 20 a second.
    pub device_rate: Rate,
    /// The most keys each rate limiter tracks. Default 100 000 (a few MiB per limiter):
    /// memory stays bounded under a flood of new addresses or forged hints. When full,
    /// idle keys are dropped and, failing that, new keys are refused (not busy ones
    /// evicted). Should exceed [`max_items_per_request`](Self::max_items_per_request).
    pub max_tracked: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 4 * 1024 * 1024,
            max_items_per_request: 4096,
            max_item_bytes: 2048,
            body_timeout: Duration::from_secs(10),
            client_rate: Rate::new(1000, 4096),
            device_rate: Rate::new(20, 1024),
            max_tracked: 100_000,
        }
    }
}

/// The buckets of a [`RateLimiter`]: for each key, the instant its bucket is full again
/// (the "theoretical arrival time" of the generic cell rate algorithm, which is a token
/// bucket kept as one instant: the bucket's deficit is `tat - now`).
#[derive(Debug)]
struct Buckets<K> {
    tat: FastMap<K, Instant>,
    /// After a sweep that freed nothing: new keys are refused until then without sweeping
    /// again (a sweep is linear in the map).
    full_until: Option<Instant>,
}

/// Token buckets per key, bounded in the number of keys tracked.
///
/// Thread-safe (one mutex, held for a few hash-map operations and never across an await).
/// A poisoned mutex is recovered: the state is a map of instants, valid after any panic.
#[derive(Debug)]
pub struct RateLimiter<K: Hash + Eq + Clone> {
    rate: Rate,
    max_tracked: usize,
    inner: Mutex<Buckets<K>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// Buckets of `rate` for at most `max_tracked` keys (at least 1).
    pub fn new(rate: Rate, max_tracked: usize) -> Self {
        RateLimiter {
            rate,
            max_tracked: max_tracked.max(1),
            inner: Mutex::new(Buckets {
                tat: FastMap::default(),
                full_until: None,
            }),
        }
    }

    /// The rate enforced.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes `cost` tokens from `key`'s bucket at `now`.
    ///
    /// `Err` carries how long to wait before the same request would pass, and takes
    /// nothing. Special cases:
    ///
    /// - A `cost` larger than the burst can never pass: it is refused with the time until
    ///   the bucket is full again (at least one token's time), and the caller should split
    ///   the request.
    /// - A cost of 0 always passes.
    /// - When the map already tracks `max_tracked` keys and `key` is new, buckets that are
    ///   full (idle keys) are dropped first; if every bucket is busy the new key is refused
    ///   with the time until the soonest busy bucket is full (at least 10 ms). Busy keys
    ///   are never evicted, since that would reset their buckets.
    /// - An unlimited rate always passes and tracks nothing.
    pub fn check(&self, key: &K, cost: u32, now: Instant) -> Result<(), Duration> {
        self.take(&[(key, cost)], now)
    }

    /// Takes the cost of every key or of none (one lock for all).
    ///
    /// Repeated keys have their costs summed. `Err` carries the longest wait among the keys
    /// refused (see [`check`](Self::check)).
    pub fn check_all(&self, costs: &[(K, u32)], now: Instant) -> Result<(), Duration> {
        if self.rate.is_unlimited() || costs.is_empty() {
            return Ok(());
        }
        let mut summed: FastMap<&K, u32> = FastMap::default();
        for (key, cost) in costs {
            let slot = summed.entry(key).or_insert(0);
            *slot = slot.saturating_add(*cost);
        }
        let wants: Vec<(&K, u32)> = summed.into_iter().collect();
        self.take(&wants, now)
    }

    /// Whether `check(key, cost, now)` would pass, without taking anything.
    ///
    /// A key not tracked yet counts as a full bucket (the map-full refusal of a new key is
    /// not predicted).
    pub fn peek(&self, key: &K, cost: u32, now: Instant) -> Result<(), Duration> {
        if self.rate.is_unlimited() {
            return Ok(());
        }
        let buckets = self.lock();
        let deficit = buckets
            .tat
            .get(key)
            .map_or(Duration::ZERO, |tat| tat.saturating_duration_since(now));
        match self.wait(deficit, cost) {
            None => Ok(()),
            Some(wait) => Err(wait),
        }
    }

    /// How many keys are tracked now.
    pub fn tracked(&self) -> usize {
        self.lock().tat.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets<K>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wait before `cost` tokens fit a bucket whose deficit is `deficit`; `None` if
    /// they fit now.
    fn wait(&self, deficit: Duration, cost: u32) -> Option<Duration> {
        let capacity = self.rate.capacity();
        if cost > capacity {
            return Some(deficit.max(self.rate.time_for(1)));
        }
        let full = self.rate.time_for(capacity);
        let after = deficit.saturating_add(self.rate.time_for(cost));
        if after <= full {
            None
        } else {
            Some(after.saturating_sub(full))
        }
    }

    /// All or nothing over distinct keys.
    fn take(&self, wants: &[(&K, u32)], now: Instant) -> Result<(), Duration> {
        if self.rate.is_unlimited() {
            return Ok(());
        }
        let mut guard = self.lock();
        let buckets = &mut *guard;
        let mut worst: Option<Duration> = None;
        // The new instant each charged key's bucket is full again (free keys are skipped).
        let mut charged: Vec<(&K, Instant)> = Vec::with_capacity(wants.len());
        for &(key, cost) in wants {
            if cost == 0 {
                continue;
            }
            let deficit = buckets
                .tat
                .get(key)
                .map_or(Duration::ZERO, |tat| tat.saturating_duration_since(now));
            let refused = match self.wait(deficit, cost) {
                Some(wait) => Some(wait),
                None => {
                    let after = deficit.saturating_add(self.rate.time_for(cost));
                    match now.checked_add(after) {
                        Some(tat) => {
                            charged.push((key, tat));
                            None
                        }
                        // Unreachable in practice (centuries); refuse rather than panic.
                        None => Some(after),
                    }
                }
            };
            if let Some(wait) = refused {
                worst = Some(worst.map_or(wait, |w| w.max(wait)));
            }
        }
        if let Some(wait) = worst {
            return Err(wait);
        }
        buckets.make_room(&charged, self.max_tracked, now)?;
        for (key, tat) in charged {
            match buckets.tat.get_mut(key) {
                Some(slot) => *slot = tat,
                None => {
                    buckets.tat.insert(key.clone(), tat);
                }
            }
        }
        Ok(())
    }
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// Keys of `charged` not tracked yet.
    fn absent(&self, charged: &[(&K, Instant)]) -> usize {
        charged
            .iter()
            .filter(|(key, _)| !self.tat.contains_key(*key))
            .count()
    }

    /// Makes room for the new keys of `charged`, dropping idle buckets if needed.
    fn make_room(
        &mut self,
        charged: &[(&K, Instant)],
        max_tracked: usize,
        now: Instant,
    ) -> Result<(), Duration> {
        if self.tat.len().saturating_add(self.absent(charged)) <= max_tracked {
            return Ok(());
        }
        if let Some(until) = self.full_until {
            if now < until {
                return Err(until.saturating_duration_since(now).max(MIN_FULL_RETRY));
            }
        }
        // A bucket whose deficit is gone is full: dropping it loses nothing (an absent key
        // is a full bucket, and a charged key's new instant was computed already). A
        // dropped key of `charged` becomes absent, so recount.
        self.tat.retain(|_, tat| *tat > now);
        if self.tat.len().saturating_add(self.absent(charged)) <= max_tracked {
            self.full_until = None;
            return Ok(());
        }
        let wait = self
            .tat
            .values()
            .min()
            .map_or(Duration::ZERO, |tat| tat.saturating_duration_since(now))
            .max(MIN_FULL_RETRY);
        self.full_until = now.checked_add(wait);
        Err(wait)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn defaults_are_documented_values() {
        let l = Limits::default();
        assert_eq!(l.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(l.max_items_per_request, 4096);
        assert_eq!(l.max_item_bytes, 2048);
        assert_eq!(l.body_timeout, Duration::from_secs(10));
        assert_eq!(l.max_tracked, 100_000);
        assert!(l.client_rate.burst as usize >= l.max_items_per_request);
        assert!(l.max_tracked > l.max_items_per_request);
    }

    #[test]
    fn burst_then_sustained_rate_with_exact_retry_after() {
        let limiter = RateLimiter::new(Rate::new(10, 3), 16);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check(&"a", 1, t0).unwrap();
        }
        assert_eq!(limiter.check(&"a", 1, t0), Err(100 * MS));
        // Half an interval later: still 50 ms to go.
        assert_eq!(limiter.check(&"a", 1, t0 + 50 * MS), Err(50 * MS));
        // One interval later exactly one more token.
        let t1 = t0 + 100 * MS;
        limiter.check(&"a", 1, t1).unwrap();
        assert!(limiter.check(&"a", 1, t1).is_err());
        // After a long rest the full burst is back, not more.
        let t2 = t1 + Duration::from_secs(60);
        limiter.check(&"a", 3, t2).unwrap();
        assert_eq!(limiter.check(&"a", 1, t2), Err(100 * MS));
    }

    #[test]
    fn multi_token_costs() {
        let limiter = RateLimiter::new(Rate::new(100, 50), 16);
        let t0 = Instant::now();
        limiter.check(&1u8, 40, t0).unwrap();
        // 10 left: 20 needs 10 more tokens, 100 ms.
        assert_eq!(limiter.check(&1u8, 20, t0), Err(100 * MS));
        limiter.check(&1u8, 10, t0).unwrap();
    }

    #[test]
    fn cost_over_burst_is_refused_and_takes_nothing() {
        let limiter = RateLimiter::new(Rate::new(10, 5), 16);
        let t0 = Instant::now();
        // Full bucket: at least one token's time.
        assert_eq!(limiter.check(&"a", 6, t0), Err(100 * MS));
        assert_eq!(limiter.tracked(), 0);
        limiter.check(&"a", 2, t0).unwrap();
        // Deficit of 200 ms: the time to refill fully.
        assert_eq!(limiter.check(&"a", 6, t0), Err(200 * MS));
        limiter.check(&"a", 3, t0).unwrap();
    }

    #[test]
    fn zero_cost_and_unlimited_pass() {
        let limiter = RateLimiter::new(Rate::new(1, 1), 16);
        let t0 = Instant::now();
        limiter.check(&"a", 1, t0).unwrap();
        limiter.check(&"a", 0, t0).unwrap();
        let free = RateLimiter::new(Rate::UNLIMITED, 1);
        for i in 0..1000u32 {
            free.check(&i, u32::MAX, t0).unwrap();
        }
        assert_eq!(free.tracked(), 0);
    }

    #[test]
    fn burst_zero_is_one() {
        let limiter = RateLimiter::new(Rate::new(2, 0), 16);
        let t0 = Instant::now();
        limiter.check(&"a", 1, t0).unwrap();
        assert_eq!(limiter.check(&"a", 1, t0), Err(500 * MS));
    }

    #[test]
    fn peek_takes_nothing() {
        let limiter = RateLimiter::new(Rate::new(10, 2), 16);
        let t0 = Instant::now();
        limiter.peek(&"a", 2, t0).unwrap();
        assert_eq!(limiter.tracked(), 0);
        limiter.check(&"a", 2, t0).unwrap();
        assert_eq!(limiter.peek(&"a", 1, t0), Err(100 * MS));
        assert_eq!(limiter.peek(&"a", 1, t0), Err(100 * MS));
        limiter.peek(&"a", 1, t0 + 100 * MS).unwrap();
    }

    #[test]
    fn check_all_is_all_or_nothing_and_sums_repeats() {
        let limiter = RateLimiter::new(Rate::new(10, 3), 16);
        let t0 = Instant::now();
        limiter.check(&"b", 3, t0).unwrap();
        // "b" is empty: the whole call is refused and "a" keeps its tokens.
        assert_eq!(limiter.check_all(&[("a", 1), ("b", 1)], t0), Err(100 * MS));
        limiter.check(&"a", 3, t0).unwrap();
        // Repeats are summed: 2 + 2 > 3.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(limiter.check_all(&[("c", 2), ("c", 2)], t1), Err(100 * MS));
        limiter.check_all(&[("c", 2), ("c", 1)], t1).unwrap();
        assert!(limiter.check(&"c", 1, t1).is_err());
        limiter.check_all(&[], t1).unwrap();
    }

    #[test]
    fn bounded_map_drops_idle_then_refuses_newcomers() {
        let limiter = RateLimiter::new(Rate::new(1, 1), 2);
        let t0 = Instant::now();
        limiter.check(&"a", 1, t0).unwrap();
        limiter.check(&"b", 1, t0).unwrap();
        // Both busy: a third key is refused, not tracked, and nobody is evicted.
        let wait = limiter.check(&"c", 1, t0).unwrap_err();
        assert!(wait >= MIN_FULL_RETRY && wait <= Duration::from_secs(1));
        assert_eq!(limiter.tracked(), 2);
        assert!(limiter.check(&"a", 1, t0).is_err());
        // Another newcomer right after is refused without a second sweep.
        assert!(limiter.check(&"d", 1, t0 + MS).is_err());
        // A free check passes even then, and tracks nothing.
        limiter.check(&"z", 0, t0 + MS).unwrap();
        assert_eq!(limiter.tracked(), 2);
        // Once "a" and "b" have refilled they are idle and make room.
        let t1 = t0 + Duration::from_secs(1);
        limiter.check(&"c", 1, t1).unwrap();
        assert!(limiter.tracked() <= 2);
        limiter.check(&"a", 1, t1).unwrap();
        assert!(limiter.tracked() <= 2);
    }

    #[test]
    fn flood_of_keys_stays_bounded() {
        let limiter = RateLimiter::new(Rate::new(1, 10), 100);
        let t0 = Instant::now();
        let mut refused = 0;
        for i in 0..10_000u32 {
            if limiter.check(&i, 1, t0).is_err() {
                refused += 1;
            }
        }
        assert_eq!(limiter.tracked(), 100);
        assert_eq!(refused, 10_000 - 100);
    }

    #[test]
    fn poisoned_mutex_is_recovered() {
        let limiter = RateLimiter::new(Rate::new(10, 1), 16);
        let t0 = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = limiter.inner.lock();
            panic!("poison the limiter");
        }));
        assert!(result.is_err());
        assert!(limiter.inner.is_poisoned());
        limiter.check(&"a", 1, t0).unwrap();
        assert!(limiter.check(&"a", 1, t0).is_err());
        assert_eq!(limiter.tracked(), 1);
    }
}
