//! Per-peer rate limiting, applied before any validation work is spent.
//!
//! Each peer gets a token bucket, implemented as the generic cell rate
//! algorithm (GCRA): one [`Instant`] per peer (the theoretical arrival time of
//! the next message), integer [`Duration`] arithmetic, no floats and no timer.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::PeerId;

/// A sustained rate with a burst allowance: `per_second` messages per second
/// on average, and up to `burst` messages back to back after a quiet period.
///
/// `per_second == 0` refuses everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained messages per second.
    pub per_second: u32,
    /// Messages allowed back to back (at least 1 is used).
    pub burst: u32,
}

impl RateLimit {
    /// A limit of `per_second` sustained with bursts of `burst`.
    pub const fn new(per_second: u32, burst: u32) -> Self {
        Self { per_second, burst }
    }

    /// Time between two messages at the sustained rate (rounded down to a nanosecond).
    fn interval(&self) -> Option<Duration> {
        if self.per_second == 0 {
            None
        } else {
            Some(Duration::from_nanos(
                1_000_000_000 / u64::from(self.per_second),
            ))
        }
    }

    /// How far ahead of `now` the theoretical arrival time may run: `(burst - 1) * interval`.
    fn tolerance(&self, interval: Duration) -> Duration {
        interval.saturating_mul(self.burst.max(1).saturating_sub(1))
    }
}

/// One GCRA cell: the theoretical arrival time of the next conforming message.
#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    tat: Option<Instant>,
}

impl Cell {
    /// Takes one token if the message conforms; returns whether it did.
    fn check(&mut self, limit: &RateLimit, now: Instant) -> bool {
        let Some(interval) = limit.interval() else {
            return false;
        };
        let tat = match self.tat {
            Some(tat) if tat > now => tat,
            _ => now,
        };
        // Conforming iff tat <= now + tolerance.
        if tat.saturating_duration_since(now) > limit.tolerance(interval) {
            return false;
        }
        self.tat = Some(tat + interval);
        true
    }

    /// True when the bucket is full again (the peer has been quiet long enough).
    fn is_idle(&self, now: Instant) -> bool {
        self.tat.is_none_or(|tat| tat <= now)
    }
}

/// Token buckets for every connected peer.
///
/// Entries are removed when a peer disconnects; as a second guard the map is
/// pruned of idle buckets whenever it grows past `max_peers`, so its size is
/// bounded by the connection limits.
#[derive(Debug)]
pub(crate) struct PeerLimiter {
    limit: RateLimit,
    cells: HashMap<PeerId, Cell>,
    max_peers: usize,
}

impl PeerLimiter {
    pub(crate) fn new(limit: RateLimit, max_peers: usize) -> Self {
        Self {
            limit,
            cells: HashMap::new(),
            max_peers: max_peers.max(1),
        }
    }

    /// Takes a token for `peer`; `false` means over the limit.
    pub(crate) fn check(&mut self, peer: &PeerId, now: Instant) -> bool {
        if self.cells.len() >= self.max_peers && !self.cells.contains_key(peer) {
            self.cells.retain(|_, cell| !cell.is_idle(now));
            if self.cells.len() >= self.max_peers {
                // Still full of busy peers: refuse newcomers rather than grow.
                return false;
            }
        }
        self.cells.entry(*peer).or_default().check(&self.limit, now)
    }

    /// Forgets a peer (on disconnect).
    pub(crate) fn remove(&mut self, peer: &PeerId) {
        self.cells.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let limit = RateLimit::new(10, 3);
        let mut cell = Cell::default();
        let t0 = Instant::now();
        assert!(cell.check(&limit, t0));
        assert!(cell.check(&limit, t0));
        assert!(cell.check(&limit, t0));
        assert!(!cell.check(&limit, t0));
        // One interval later exactly one more token is available.
        let t1 = t0 + Duration::from_millis(100);
        assert!(cell.check(&limit, t1));
        assert!(!cell.check(&limit, t1));
        // After a long pause the full burst is back, not more.
        let t2 = t1 + Duration::from_secs(10);
        assert!(cell.is_idle(t2));
        assert!(cell.check(&limit, t2));
        assert!(cell.check(&limit, t2));
        assert!(cell.check(&limit, t2));
        assert!(!cell.check(&limit, t2));
    }

    #[test]
    fn zero_rate_refuses() {
        let mut cell = Cell::default();
        assert!(!cell.check(&RateLimit::new(0, 5), Instant::now()));
    }

    #[test]
    fn limiter_is_per_peer_and_bounded() {
        let mut limiter = PeerLimiter::new(RateLimit::new(1, 1), 2);
        let now = Instant::now();
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        assert!(limiter.check(&a, now));
        assert!(!limiter.check(&a, now));
        assert!(limiter.check(&b, now));
        // Both known peers are busy: a third is refused instead of growing the map.
        assert!(!limiter.check(&c, now));
        assert_eq!(limiter.cells.len(), 2);
        limiter.remove(&a);
        assert!(limiter.check(&c, now));
    }
}
