//! The node's event counters, shared between the swarm task, the behaviours
//! that decide on traffic before Gossipsub sees it, and every handle.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters behind [`NodeStats`](super::NodeStats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) ignored: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) validation_overflow: AtomicU64,
    pub(crate) validator_panics: AtomicU64,
    pub(crate) peers_banned: AtomicU64,
    pub(crate) foreign_peers: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) connections_evicted: AtomicU64,
    pub(crate) challenges_sent: AtomicU64,
    pub(crate) challenges_answered: AtomicU64,
    pub(crate) challenges_failed: AtomicU64,
    pub(crate) challenges_served: AtomicU64,
    pub(crate) challenges_refused: AtomicU64,
}

/// Adds one to `counter`.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Reads `counter`.
pub(crate) fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
