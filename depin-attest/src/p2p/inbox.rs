//! The bounded queue of verified attestations handed to the application.
//!
//! The network must never wait for a slow consumer (that would stall
//! validation and forwarding for everyone), and the queue must never grow
//! without bound. So the queue has a fixed capacity and an
//! [`OverflowPolicy`]: when it is full, either the oldest entry is dropped or
//! the new one is refused, and a counter records every loss.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::{Context, Poll},
    time::Instant,
};

use futures::{task::AtomicWaker, Stream, StreamExt};
use libp2p::PeerId;

/// What to do with a verified attestation when the application's queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Drop the oldest queued attestation to make room (the default: fresh data wins).
    #[default]
    DropOldest,
    /// Refuse the new attestation and keep the queue as it is.
    DropNewest,
}

/// A gossiped attestation that the local validator accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GossipMessage {
    /// The kind (topic label) it was gossiped under, e.g. `"coverage"`.
    pub kind: Arc<str>,
    /// The opaque, canonical-encoded attestation bytes.
    pub data: Vec<u8>,
    /// The peer that published it, when gossip is signed (`None` in anonymous mode).
    pub origin: Option<PeerId>,
    /// The neighbour that delivered it to this node.
    pub via: PeerId,
    /// Content id: SHA-256 over the topic and the payload (the id
    /// [`NodeHandle::publish`](super::NodeHandle::publish) returns). It is
    /// Gossipsub's message id too, unless an earlier copy was ignored.
    pub id: Vec<u8>,
    /// When this node finished validating it.
    pub received_at: Instant,
}

#[derive(Debug)]
struct State {
    items: VecDeque<GossipMessage>,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    waker: AtomicWaker,
    capacity: usize,
    policy: OverflowPolicy,
    delivered: AtomicU64,
    dropped: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The critical sections below cannot panic; recover the data if one ever did.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The receiving end: a bounded stream of verified attestations.
///
/// Use [`Inbox::recv`] or the [`Stream`] implementation. It ends (yields
/// `None`) after the node shut down and the queue is drained.
#[derive(Debug)]
pub struct Inbox {
    shared: Arc<Shared>,
}

/// The node's end of the queue.
#[derive(Debug)]
pub(crate) struct InboxSender {
    shared: Arc<Shared>,
}

/// Creates a queue of `capacity` (at least 1) with the given overflow policy.
pub(crate) fn inbox(capacity: usize, policy: OverflowPolicy) -> (InboxSender, Inbox) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::with_capacity(capacity.clamp(1, 1024)),
            closed: false,
        }),
        waker: AtomicWaker::new(),
        capacity: capacity.max(1),
        policy,
        delivered: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
    });
    (
        InboxSender {
            shared: Arc::clone(&shared),
        },
        Inbox { shared },
    )
}

impl InboxSender {
    /// Queues an attestation without ever waiting; returns `false` if one was dropped.
    pub(crate) fn push(&self, attestation: GossipMessage) -> bool {
        let kept = {
            let mut state = self.shared.lock();
            if state.items.len() < self.shared.capacity {
                state.items.push_back(attestation);
                true
            } else {
                if self.shared.policy == OverflowPolicy::DropOldest {
                    state.items.pop_front();
                    state.items.push_back(attestation);
                }
                false
            }
        };
        if kept {
            self.shared.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            if self.shared.policy == OverflowPolicy::DropOldest {
                // The new one was queued in place of the oldest.
                self.shared.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.shared.waker.wake();
        kept
    }

    /// A cheap view of the queue's counters, for the node's statistics.
    pub(crate) fn counters(&self) -> InboxCounters {
        InboxCounters {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for InboxSender {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.waker.wake();
    }
}

/// Read-only access to the queue's counters, held by node handles.
#[derive(Clone, Debug)]
pub(crate) struct InboxCounters {
    shared: Arc<Shared>,
}

impl InboxCounters {
    pub(crate) fn len(&self) -> usize {
        self.shared.lock().items.len()
    }
    pub(crate) fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }
    pub(crate) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Inbox {
    /// Waits for the next verified attestation; `None` once the node has
    /// shut down and everything queued has been read.
    pub async fn recv(&mut self) -> Option<GossipMessage> {
        self.next().await
    }

    /// Takes the next attestation if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<GossipMessage> {
        self.shared.lock().items.pop_front()
    }

    /// Number of attestations queued right now (never more than [`Inbox::capacity`]).
    pub fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fixed capacity of the queue.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Attestations lost because the queue was full (see [`OverflowPolicy`]).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Attestations that entered the queue so far (including any later dropped as oldest).
    pub fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }
}

impl Stream for Inbox {
    type Item = GossipMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<GossipMessage>> {
        let shared = &self.shared;
        {
            let mut state = shared.lock();
            if let Some(item) = state.items.pop_front() {
                return Poll::Ready(Some(item));
            }
            if state.closed {
                return Poll::Ready(None);
            }
        }
        shared.waker.register(cx.waker());
        // Check again: a push may have happened between the first look and the registration.
        let mut state = shared.lock();
        match state.items.pop_front() {
            Some(item) => Poll::Ready(Some(item)),
            None if state.closed => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u8) -> GossipMessage {
        GossipMessage {
            kind: Arc::from("report"),
            data: vec![n],
            origin: None,
            via: PeerId::random(),
            id: vec![n],
            received_at: Instant::now(),
        }
    }

    #[test]
    fn drop_oldest_keeps_the_newest() {
        let (tx, mut rx) = inbox(2, OverflowPolicy::DropOldest);
        for n in 0..5 {
            tx.push(item(n));
        }
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.dropped(), 3);
        assert_eq!(rx.try_recv().map(|a| a.data), Some(vec![3]));
        assert_eq!(rx.try_recv().map(|a| a.data), Some(vec![4]));
        assert!(rx.try_recv().is_none());
    }

    #[test]
    fn drop_newest_keeps_the_oldest() {
        let (tx, mut rx) = inbox(2, OverflowPolicy::DropNewest);
        for n in 0..5 {
            tx.push(item(n));
        }
        assert_eq!(rx.dropped(), 3);
        assert_eq!(rx.try_recv().map(|a| a.data), Some(vec![0]));
        assert_eq!(rx.try_recv().map(|a| a.data), Some(vec![1]));
        drop(tx);
        assert!(futures::executor::block_on(rx.recv()).is_none());
    }
}
