//! The gossip guard: Gossipsub wrapped so that nothing an attacker can cause
//! to be dropped or ignored suppresses the same payload from another peer.
//!
//! Gossipsub records a message's id as seen (its duplicate cache) *before*
//! the application validates it, and neither `Ignore` nor `Reject` removes
//! the id again; for messages above its IDONTWANT threshold it also tells the
//! mesh not to send that id again. With content-addressed ids, a copy that is
//! dropped after it was recorded (over the sender's rate, validation queue
//! full, ignored) would therefore censor the honest copies that follow it. So:
//!
//! 1. **Decide before the id is recorded.** [`Guard`] sits between the
//!    connection handlers and Gossipsub and looks at every received message
//!    first. A message over its sender's rate, or one the validation queue has
//!    no room for, is removed from the RPC before Gossipsub sees it: its id is
//!    never recorded, so the same payload from another peer is still validated.
//!    (IDONTWANT is never sent, see `behaviour::build`, so an unvalidated copy
//!    cannot ask the mesh to withhold the others.) Copies of payloads already
//!    judged (accepted or rejected) cost no rate: Gossipsub drops them as
//!    duplicates, and the rate bounds validation work, which they cause none of.
//! 2. **Ignored copies do not count.** When the validator ignores a message,
//!    [`Retries::ignored`] moves its content to a new generation, so the next
//!    copy gets a fresh id and is validated in its own right (a peer whose copy
//!    was ignored is not asked again for the same payload).
//! 3. **Floods cost score.** Over-rate messages are counted per peer; beyond a
//!    tolerance they lower the peer's score (P5), so a flooder ends up
//!    graylisted and banned instead of staying connected with a clean score.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use libp2p::{
    core::{transport::PortUse, Endpoint},
    gossipsub::{self, MessageAcceptance, MessageId, RawMessage, TopicHash},
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
        THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};
use sha2::{Digest, Sha256};

use super::{
    behaviour::{content_id, SEEN_TTL},
    config::NodeConfig,
    counters::{bump, Counters},
    rate::PeerLimiter,
};

/// Most payloads remembered as "ignored once"; beyond it the oldest are forgotten.
const MAX_RETRIES: usize = 16_384;
/// Most peers remembered per payload whose copies were ignored.
const MAX_IGNORED_FROM: usize = 32;
/// Most peers whose over-rate count is tracked at once.
const MAX_OVER_RATE_PEERS: usize = 4096;
/// Most judged payloads remembered (their copies cost no rate); beyond it the oldest are forgotten.
const MAX_KNOWN: usize = 65_536;
/// How much sooner than Gossipsub's duplicate cache a judged payload is forgotten.
const KNOWN_MARGIN: Duration = Duration::from_secs(10);

/// What a connection handler of Gossipsub reports; its `Message` variant
/// carries the decoded RPC (messages, subscriptions, control messages).
type GossipHandlerEvent = THandlerOutEvent<gossipsub::Behaviour>;

// ---------------------------------------------------------------------------
// Message ids after an ignore
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Retry {
    generation: u32,
    ignored_from: Vec<PeerId>,
    expires: Instant,
}

#[derive(Debug, Default)]
struct RetryState {
    entries: HashMap<Vec<u8>, Retry>,
    /// Expiry order; an item is stale when its entry was renewed since.
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl RetryState {
    fn prune(&mut self, now: Instant) {
        while let Some((expires, _)) = self.order.front() {
            let over = self.entries.len() > MAX_RETRIES || self.order.len() > 2 * MAX_RETRIES;
            if *expires > now && !over {
                break;
            }
            let Some((expires, content)) = self.order.pop_front() else {
                break;
            };
            if self
                .entries
                .get(&content)
                .is_some_and(|r| r.expires == expires)
            {
                self.entries.remove(&content);
            }
        }
    }
}

/// Payloads whose copies were ignored, shared by Gossipsub's message-id
/// function, the guard and the swarm task.
///
/// A payload's message id is its content id (see [`content_id`]) until a copy
/// of it is ignored; from then on, for as long as Gossipsub remembers ids, it
/// is a hash of the content id and a generation that every ignored copy
/// advances, so the next copy is new to Gossipsub and gets validated.
#[derive(Debug)]
pub(crate) struct Retries {
    state: Mutex<RetryState>,
    ttl: Duration,
}

impl Retries {
    /// Entries live `ttl` after their last ignore (Gossipsub's duplicate-cache time).
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            state: Mutex::new(RetryState::default()),
            ttl,
        }
    }

    fn lock(&self) -> MutexGuard<'_, RetryState> {
        // The critical sections cannot panic; recover the data if one ever did.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Gossipsub message id of `data` on `topic` right now.
    pub(crate) fn message_id(&self, topic: &TopicHash, data: &[u8]) -> MessageId {
        let content = content_id(topic, data);
        let generation = {
            let state = self.lock();
            if state.entries.is_empty() {
                0
            } else {
                let now = Instant::now();
                state
                    .entries
                    .get(&content)
                    .filter(|r| r.expires > now)
                    .map_or(0, |r| r.generation)
            }
        };
        if generation == 0 {
            return MessageId(content);
        }
        let mut hasher = Sha256::new();
        hasher.update(b"depin-attest/retry/1");
        hasher.update(&content);
        hasher.update(generation.to_be_bytes());
        MessageId(hasher.finalize().to_vec())
    }

    /// True when no payload is remembered (the common case: no hashing needed).
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    /// True when `peer`'s copy of `content` was already ignored.
    pub(crate) fn ignored_from(&self, content: &[u8], peer: &PeerId, now: Instant) -> bool {
        self.lock()
            .entries
            .get(content)
            .is_some_and(|r| r.expires > now && r.ignored_from.contains(peer))
    }

    /// Records that the copy of `content` delivered by `via` was ignored: the
    /// next copy (from another peer) gets a fresh message id.
    pub(crate) fn ignored(&self, content: &[u8], via: PeerId, now: Instant) {
        let expires = super::admission::deadline(now, self.ttl);
        let mut state = self.lock();
        state.prune(now);
        let retry = state.entries.entry(content.to_vec()).or_insert(Retry {
            generation: 0,
            ignored_from: Vec::new(),
            expires,
        });
        retry.generation = retry.generation.wrapping_add(1).max(1);
        retry.expires = expires;
        if !retry.ignored_from.contains(&via) && retry.ignored_from.len() < MAX_IGNORED_FROM {
            retry.ignored_from.push(via);
        }
        state.order.push_back((expires, content.to_vec()));
        state.prune(now);
    }

    /// After a final verdict (accept or reject) on a payload with re-issued
    /// ids, keeps its current id for another `ttl`: Gossipsub remembers that
    /// id from now on, so later copies stay duplicates.
    pub(crate) fn settled(&self, content: &[u8], now: Instant) {
        let mut state = self.lock();
        if state.entries.is_empty() {
            return;
        }
        let expires = super::admission::deadline(now, self.ttl);
        let renewed = match state.entries.get_mut(content) {
            // Only a live entry decided the id of the copy just judged.
            Some(retry) if retry.expires > now => {
                retry.expires = expires;
                true
            }
            _ => false,
        };
        if renewed {
            state.order.push_back((expires, content.to_vec()));
            state.prune(now);
        }
    }
}

// ---------------------------------------------------------------------------
// Judged payloads
// ---------------------------------------------------------------------------

/// Content ids of payloads accepted or rejected recently: their copies are
/// duplicates to Gossipsub, so they are let through without costing rate.
#[derive(Debug, Default)]
struct Known {
    ids: HashMap<Vec<u8>, Instant>,
    /// Expiry order; an item is stale when its entry was renewed since.
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl Known {
    fn contains(&self, content: &[u8], now: Instant) -> bool {
        self.ids.get(content).is_some_and(|expires| *expires > now)
    }

    fn insert(&mut self, content: &[u8], expires: Instant, now: Instant) {
        self.ids.insert(content.to_vec(), expires);
        self.order.push_back((expires, content.to_vec()));
        while let Some((front, _)) = self.order.front() {
            let over = self.ids.len() > MAX_KNOWN || self.order.len() > 2 * MAX_KNOWN;
            if *front > now && !over {
                break;
            }
            let Some((front, content)) = self.order.pop_front() else {
                break;
            };
            if self.ids.get(&content).is_some_and(|e| *e == front) {
                self.ids.remove(&content);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Over-rate penalty
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Excess {
    count: f64,
    at: Instant,
    /// Whether a non-zero application score is currently set for the peer.
    applied: bool,
}

/// Per-peer decaying counts of over-rate messages and the score they cost.
#[derive(Debug)]
struct OverRate {
    weight: f64,
    tolerance: f64,
    decay: f64,
    peers: HashMap<PeerId, Excess>,
}

/// `count` decayed by `decay` per second since `at`.
fn decayed(count: f64, at: Instant, now: Instant, decay: f64) -> f64 {
    count * decay.powf(now.saturating_duration_since(at).as_secs_f64())
}

impl OverRate {
    fn penalty(&self, count: f64) -> f64 {
        let over = count - self.tolerance;
        if over > 0.0 {
            self.weight * over
        } else {
            0.0
        }
    }

    /// Counts one over-rate message; returns the application score to set, if any.
    fn record(&mut self, peer: &PeerId, now: Instant) -> Option<f64> {
        if self.weight == 0.0 {
            return None;
        }
        if !self.peers.contains_key(peer) && self.peers.len() >= MAX_OVER_RATE_PEERS {
            return None;
        }
        let decay = self.decay;
        let count = self
            .peers
            .get(peer)
            .map_or(0.0, |e| decayed(e.count, e.at, now, decay))
            + 1.0;
        let penalty = self.penalty(count);
        let excess = self.peers.entry(*peer).or_insert(Excess {
            count: 0.0,
            at: now,
            applied: false,
        });
        excess.count = count;
        excess.at = now;
        if penalty < 0.0 || excess.applied {
            excess.applied = penalty < 0.0;
            Some(penalty)
        } else {
            None
        }
    }

    /// Decays every count; returns the application scores to set.
    fn refresh(&mut self, now: Instant) -> Vec<(PeerId, f64)> {
        let mut updates = Vec::new();
        let (weight, tolerance, decay) = (self.weight, self.tolerance, self.decay);
        self.peers.retain(|peer, excess| {
            let count = decayed(excess.count, excess.at, now, decay);
            excess.count = count;
            excess.at = now;
            let over = count - tolerance;
            let penalty = if over > 0.0 { weight * over } else { 0.0 };
            if excess.applied {
                updates.push((*peer, penalty));
                excess.applied = penalty < 0.0;
            }
            count >= 0.5 || excess.applied
        });
        updates
    }
}

// ---------------------------------------------------------------------------
// The guard
// ---------------------------------------------------------------------------

/// Gossipsub behind the guard (see the module docs).
pub(crate) struct Guard {
    inner: gossipsub::Behaviour,
    limiter: PeerLimiter,
    /// Messages the validation path can hold ([`Limits::validation_queue`](super::Limits::validation_queue)).
    capacity: usize,
    /// Messages handed to the application and not yet reported back.
    outstanding: usize,
    /// Messages let through to Gossipsub since it last had no events to hand
    /// out; each either became an event or was a duplicate.
    admitted: usize,
    retries: Arc<Retries>,
    known: Known,
    known_ttl: Duration,
    over_rate: OverRate,
    counters: Arc<Counters>,
}

impl Guard {
    /// Wraps `inner` with the limits of `config` (already validated).
    pub(crate) fn new(
        inner: gossipsub::Behaviour,
        config: &NodeConfig,
        retries: Arc<Retries>,
        counters: Arc<Counters>,
    ) -> Self {
        let limits = &config.limits;
        let scoring = &config.scoring;
        Self {
            inner,
            // Room for trusted peers (not counted by the connection limits) and churn.
            limiter: PeerLimiter::new(
                limits.peer_rate,
                (limits.max_connections as usize).saturating_mul(2),
            ),
            capacity: limits.validation_queue,
            outstanding: 0,
            admitted: 0,
            retries,
            known: Known::default(),
            known_ttl: SEEN_TTL.saturating_sub(KNOWN_MARGIN),
            over_rate: OverRate {
                weight: scoring.over_rate_weight,
                tolerance: scoring.over_rate_tolerance,
                decay: scoring.invalid_message_decay,
                peers: HashMap::new(),
            },
            counters,
        }
    }

    /// The wrapped Gossipsub behaviour.
    pub(crate) fn inner(&self) -> &gossipsub::Behaviour {
        &self.inner
    }

    /// The wrapped Gossipsub behaviour, mutably. Report validation results
    /// through [`Guard::report`], never directly.
    pub(crate) fn inner_mut(&mut self) -> &mut gossipsub::Behaviour {
        &mut self.inner
    }

    /// Reports the validation result of a message the guard handed out (once
    /// per message); returns Gossipsub's answer (false: no longer cached).
    pub(crate) fn report(
        &mut self,
        id: &MessageId,
        via: &PeerId,
        acceptance: MessageAcceptance,
    ) -> bool {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.inner
            .report_message_validation_result(id, via, acceptance)
    }

    /// Records that the payload `content` was accepted or rejected: further
    /// copies are duplicates and cost their senders no rate.
    pub(crate) fn settled(&mut self, content: &[u8], now: Instant) {
        let expires = super::admission::deadline(now, self.known_ttl);
        self.known.insert(content, expires, now);
        self.retries.settled(content, now);
    }

    /// Lets over-rate counts decay and updates the scores they cost (housekeeping tick).
    pub(crate) fn refresh(&mut self, now: Instant) {
        for (peer, score) in self.over_rate.refresh(now) {
            let _ = self.inner.set_application_score(&peer, score);
        }
    }

    /// Decides on one received message before Gossipsub sees it.
    fn admit(&mut self, peer: &PeerId, message: &RawMessage, now: Instant) -> bool {
        let content = content_id(&message.topic, &message.data);
        if self.known.contains(&content, now) {
            // Judged already: Gossipsub drops it as a duplicate, no validation follows.
            return true;
        }
        if !self.limiter.check(peer, now) {
            bump(&self.counters.received);
            bump(&self.counters.rate_limited);
            if let Some(score) = self.over_rate.record(peer, now) {
                let _ = self.inner.set_application_score(peer, score);
            }
            return false;
        }
        if !self.retries.is_empty() && self.retries.ignored_from(&content, peer, now) {
            // This peer's copy was ignored already; another one is not worth validating.
            return false;
        }
        if self.outstanding.saturating_add(self.admitted) >= self.capacity {
            bump(&self.counters.received);
            bump(&self.counters.validation_overflow);
            return false;
        }
        self.admitted += 1;
        true
    }
}

impl NetworkBehaviour for Guard {
    type ConnectionHandler = THandler<gossipsub::Behaviour>;
    type ToSwarm = gossipsub::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(closed) = &event {
            if closed.remaining_established == 0 {
                self.limiter.remove(&closed.peer_id);
            }
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        mut event: THandlerOutEvent<Self>,
    ) {
        if let GossipHandlerEvent::Message { rpc, .. } = &mut event {
            if !rpc.messages.is_empty() {
                let now = Instant::now();
                rpc.messages
                    .retain(|message| self.admit(&peer_id, message, now));
            }
        }
        self.inner
            .on_connection_handler_event(peer_id, connection_id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        match self.inner.poll(cx) {
            Poll::Ready(ToSwarm::GenerateEvent(event)) => {
                if matches!(event, gossipsub::Event::Message { .. }) {
                    self.admitted = self.admitted.saturating_sub(1);
                    self.outstanding = self.outstanding.saturating_add(1);
                }
                Poll::Ready(ToSwarm::GenerateEvent(event))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => {
                // Gossipsub emits a message's event while handling the RPC that
                // carried it; with none left, every admitted message was either
                // handed out above or dropped as a duplicate.
                self.admitted = 0;
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn topic() -> TopicHash {
        TopicHash::from_raw("depin/t/report/1")
    }

    #[test]
    fn ignored_payload_gets_a_fresh_id_once_per_ignore() {
        let retries = Retries::new(Duration::from_secs(120));
        let (a, b) = (PeerId::random(), PeerId::random());
        let data = b"ok: payload";
        let first = retries.message_id(&topic(), data);
        assert_eq!(first.0, content_id(&topic(), data));
        assert!(retries.is_empty());

        let now = Instant::now();
        retries.ignored(&first.0, a, now);
        let second = retries.message_id(&topic(), data);
        assert_ne!(second, first);
        assert_eq!(
            retries.message_id(&topic(), data),
            second,
            "stable until the next ignore"
        );
        assert!(retries.ignored_from(&first.0, &a, now));
        assert!(!retries.ignored_from(&first.0, &b, now));

        retries.ignored(&first.0, b, now);
        let third = retries.message_id(&topic(), data);
        assert_ne!(third, second);
        assert_ne!(third, first);
        // Other payloads keep their content ids.
        assert_eq!(
            retries.message_id(&topic(), b"ok: other").0,
            content_id(&topic(), b"ok: other")
        );
    }

    #[test]
    fn retries_expire_and_stay_bounded() {
        let retries = Retries::new(Duration::from_millis(10));
        let peer = PeerId::random();
        let now = Instant::now();
        for i in 0..(MAX_RETRIES + 100) as u32 {
            retries.ignored(&content_id(&topic(), &i.to_be_bytes()), peer, now);
        }
        assert!(retries.lock().entries.len() <= MAX_RETRIES);
        let later = now + Duration::from_secs(1);
        retries.ignored(&content_id(&topic(), b"last"), peer, later);
        assert_eq!(retries.lock().entries.len(), 1);
    }

    #[test]
    fn known_payloads_expire_and_stay_bounded() {
        let mut known = Known::default();
        let now = Instant::now();
        let soon = now + Duration::from_millis(10);
        known.insert(b"a", soon, now);
        assert!(known.contains(b"a", now));
        assert!(!known.contains(b"a", soon));
        for i in 0..(MAX_KNOWN + 10) as u32 {
            known.insert(&i.to_be_bytes(), now + Duration::from_secs(60), now);
        }
        assert!(known.ids.len() <= MAX_KNOWN);
        assert!(known.order.len() <= 2 * MAX_KNOWN);
    }

    #[test]
    fn over_rate_penalty_starts_past_the_tolerance_and_decays() {
        let mut over = OverRate {
            weight: -1.0,
            tolerance: 3.0,
            decay: 0.5,
            peers: HashMap::new(),
        };
        let peer = PeerId::random();
        let now = Instant::now();
        assert_eq!(over.record(&peer, now), None);
        assert_eq!(over.record(&peer, now), None);
        assert_eq!(over.record(&peer, now), None);
        assert_eq!(over.record(&peer, now), Some(-1.0));
        assert_eq!(over.record(&peer, now), Some(-2.0));
        // Two seconds later the count is a quarter: no penalty, and the score is reset once.
        let updates = over.refresh(now + Duration::from_secs(2));
        assert_eq!(updates, vec![(peer, 0.0)]);
        assert!(over.refresh(now + Duration::from_secs(3)).is_empty());
        assert!(over.refresh(now + Duration::from_secs(10)).is_empty());
        assert!(over.peers.is_empty());
    }
}
