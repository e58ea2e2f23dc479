//! The swarm task (the event loop: gossip, verdicts, bans, challenges, discovery) and the
//! validation worker it feeds.

use std::{
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use libp2p::{
    gossipsub::{self, MessageAcceptance, MessageId, PublishError},
    identify, mdns,
    multiaddr::Protocol,
    request_response::{self, OutboundRequestId, ResponseChannel},
    swarm::SwarmEvent,
    Multiaddr, PeerId, Swarm,
};
use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

use super::handle::{Command, Reasons};
use super::node::{peer_of, without_peer};
use super::{
    admission::deadline,
    behaviour::{self, Behaviour, BehaviourEvent, TopicKinds, WireBytes, WireResponse},
    config::{Limits, ScoringConfig},
    counters::{bump, Counters},
    error::{Error, Result},
    guard::Retries,
    inbox::{GossipMessage, InboxSender},
    rate::PeerLimiter,
    ChallengeHandler, GossipValidator, GossipVerdict,
};

/// Period of the housekeeping tick (bans, score checks, rejoin).
const TICK: Duration = Duration::from_secs(1);
/// Minimum time between two attempts to re-dial the bootstrap peers while alone.
const REDIAL_INTERVAL: Duration = Duration::from_secs(3);
/// Most peers banned at once; beyond it the ban closest to expiry is lifted early.
const MAX_BANNED: usize = 4096;

// ---------------------------------------------------------------------------
// Validation worker
// ---------------------------------------------------------------------------

/// A gossip message waiting for the validator.
pub(super) struct Pending {
    /// Gossipsub's id for this copy.
    pub(super) id: MessageId,
    /// The payload's content id (see [`behaviour::content_id`]).
    pub(super) content: Vec<u8>,
    pub(super) via: PeerId,
    pub(super) origin: Option<PeerId>,
    pub(super) kind: Arc<str>,
    pub(super) data: Vec<u8>,
}

/// A gossip message and the validator's verdict.
pub(super) struct Validated {
    pub(super) pending: Pending,
    pub(super) verdict: GossipVerdict,
}

/// Takes messages in batches, validates each batch on a blocking thread and
/// sends the verdicts back to the swarm task.
pub(super) async fn validation_worker(
    validator: Arc<dyn GossipValidator>,
    mut pending: mpsc::Receiver<Pending>,
    out: mpsc::Sender<Validated>,
    batch_size: usize,
    counters: Arc<Counters>,
) {
    let mut buffer = Vec::with_capacity(batch_size);
    loop {
        if pending.recv_many(&mut buffer, batch_size).await == 0 {
            return;
        }
        let batch = std::mem::replace(&mut buffer, Vec::with_capacity(batch_size));
        let validator = Arc::clone(&validator);
        let panics = Arc::clone(&counters);
        let judged = tokio::task::spawn_blocking(move || {
            let items: Vec<(&str, &[u8])> = batch
                .iter()
                .map(|p| (&*p.kind, p.data.as_slice()))
                .collect();
            let verdicts = match catch_unwind(AssertUnwindSafe(|| validator.validate_batch(&items)))
            {
                Ok(verdicts) => verdicts,
                Err(_) => {
                    // One item must not sink the others (an attacker could put a
                    // payload that trips the validator next to an honest one):
                    // judge each on its own, ignoring only those that panic.
                    bump(&panics.validator_panics);
                    items
                        .iter()
                        .map(|(kind, data)| {
                            catch_unwind(AssertUnwindSafe(|| validator.validate(kind, data)))
                                .unwrap_or_else(|_| {
                                    bump(&panics.validator_panics);
                                    GossipVerdict::Ignore
                                })
                        })
                        .collect()
                }
            };
            drop(items);
            (batch, verdicts)
        })
        .await;
        let Ok((batch, verdicts)) = judged else {
            // Only cancellation (the runtime shutting down) gets here.
            return;
        };
        let mut verdicts = verdicts.into_iter();
        for pending in batch {
            let verdict = verdicts.next().unwrap_or(GossipVerdict::Ignore);
            if out.send(Validated { pending, verdict }).await.is_err() {
                // The swarm task is gone.
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Swarm task
// ---------------------------------------------------------------------------

/// A challenge answer computed off the swarm task, on its way back.
pub(super) struct InboundDone {
    pub(super) channel: ResponseChannel<WireResponse>,
    pub(super) response: WireResponse,
}

/// The state owned by the swarm task.
pub(super) struct Task {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) topics: TopicKinds,
    pub(super) identify_protocol: String,
    pub(super) kad_protocol: libp2p::StreamProtocol,
    pub(super) bootstrap: Vec<(PeerId, Multiaddr)>,
    pub(super) last_redial: Option<Instant>,
    pub(super) retries: Arc<Retries>,
    pub(super) challenge_limiter: PeerLimiter,
    pub(super) pending_tx: mpsc::Sender<Pending>,
    pub(super) inbox: InboxSender,
    pub(super) counters: Arc<Counters>,
    pub(super) reasons: Arc<Reasons>,
    pub(super) handler: Option<Arc<dyn ChallengeHandler>>,
    pub(super) inbound_in_flight: usize,
    pub(super) done_tx: mpsc::Sender<InboundDone>,
    pub(super) outbound: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>>>>,
    pub(super) banned: HashMap<PeerId, Instant>,
    pub(super) scoring: ScoringConfig,
    pub(super) limits: Limits,
    pub(super) challenge_timeout: Duration,
}

impl Task {
    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut verdicts: mpsc::Receiver<Validated>,
        mut done: mpsc::Receiver<InboundDone>,
        worker: JoinHandle<()>,
        stopped: watch::Sender<bool>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
                Some(validated) = verdicts.recv() => self.on_verdict(validated),
                Some(answer) = done.recv() => self.on_inbound_done(answer),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = tick.tick() => self.on_tick(),
            }
        }

        for (_, reply) in self.outbound.drain() {
            let _ = reply.send(Err(Error::Shutdown));
        }
        let Task {
            swarm,
            pending_tx,
            inbox,
            ..
        } = self;
        // Closing the swarm closes every connection and listener.
        drop(swarm);
        // The worker ends when its input closes or its output has no reader.
        drop(pending_tx);
        drop(verdicts);
        let _ = worker.await;
        // Ends the application's stream once drained.
        drop(inbox);
        let _ = stopped.send(true);
    }

    /// Dials the bootstrap peers and starts a Kademlia bootstrap.
    pub(super) fn join_network(&mut self) {
        let local = *self.swarm.local_peer_id();
        for (peer, addr) in &self.bootstrap {
            if *peer == local {
                continue;
            }
            self.swarm.add_peer_address(*peer, without_peer(addr));
            if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                kad.add_address(peer, without_peer(addr));
            }
            // A failure here is retried by the housekeeping tick while we are alone.
            let _ = self.swarm.dial(addr.clone());
        }
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            // Fails only with an empty routing table; the tick retries.
            let _ = kad.bootstrap();
        }
        self.last_redial = Some(Instant::now());
    }

    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { topic, data, reply } => {
                let size = data.len();
                let content = behaviour::content_id(&topic, &data);
                let result = match self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .inner_mut()
                    .publish(topic, data)
                {
                    Ok(_) => {
                        bump(&self.counters.published);
                        // Copies coming back from the mesh are duplicates: no rate for them.
                        self.swarm
                            .behaviour_mut()
                            .gossipsub
                            .settled(&content, Instant::now());
                        Ok(content)
                    }
                    Err(PublishError::Duplicate) => Err(Error::Duplicate),
                    Err(PublishError::NoPeersSubscribedToTopic) => Err(Error::NoPeers),
                    Err(PublishError::MessageTooLarge) => Err(Error::MessageTooLarge {
                        size,
                        max: self.limits.max_message_size,
                    }),
                    Err(other) => Err(Error::Publish(other.to_string())),
                };
                let _ = reply.send(result);
            }
            Command::Challenge { peer, data, reply } => {
                if self.outbound.len() >= self.limits.max_outbound_challenges {
                    let _ = reply.send(Err(Error::Busy));
                    return;
                }
                let id = self
                    .swarm
                    .behaviour_mut()
                    .challenge
                    .send_request(&peer, WireBytes(data));
                bump(&self.counters.challenges_sent);
                self.outbound.insert(id, reply);
            }
            Command::Dial { addr, reply } => {
                if let Some(peer) = peer_of(&addr) {
                    if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                        kad.add_address(&peer, without_peer(&addr));
                    }
                }
                let result = self.swarm.dial(addr.clone()).map_err(|e| Error::Dial {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                });
                let _ = reply.send(result);
            }
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::ConnectedPeers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::MeshPeers { topic, reply } => {
                let gossipsub = self.swarm.behaviour().gossipsub.inner();
                let _ = reply.send(gossipsub.mesh_peers(&topic).copied().collect());
            }
            Command::TopicPeers { topic, reply } => {
                let gossipsub = self.swarm.behaviour().gossipsub.inner();
                let peers = gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&topic))
                    .map(|(peer, _)| *peer)
                    .collect();
                let _ = reply.send(peers);
            }
            Command::PeerScore { peer, reply } => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.inner().peer_score(&peer));
            }
            // Handled by the loop.
            Command::Shutdown => {}
        }
    }

    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Challenge(event)) => self.on_challenge(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => self.on_identify(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(event)) => self.on_mdns(event),
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                // The gossip guard forgets the peer's gossip bucket itself.
                self.challenge_limiter.remove(&peer_id);
            }
            _ => {}
        }
    }

    /// Reports a verdict to Gossipsub, through the guard (exactly once per message it handed out).
    pub(super) fn report(&mut self, id: &MessageId, via: &PeerId, acceptance: MessageAcceptance) {
        // `false` only means gossipsub already dropped the message from its cache.
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .report(id, via, acceptance);
    }

    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        bump(&self.counters.received);
        let Some(kind) = self.topics.get(&message.topic).cloned() else {
            self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
            bump(&self.counters.ignored);
            return;
        };
        // The sender's rate and the room in the validation queue were checked
        // by the guard before Gossipsub recorded the message.
        let pending = Pending {
            id: message_id,
            content: behaviour::content_id(&message.topic, &message.data),
            via: propagation_source,
            origin: message.source,
            kind,
            data: message.data,
        };
        if let Err(error) = self.pending_tx.try_send(pending) {
            // Not expected (the guard keeps the queue from filling up); if it
            // happens, ignore this copy without letting it shadow the others.
            let pending = match error {
                mpsc::error::TrySendError::Full(p) | mpsc::error::TrySendError::Closed(p) => p,
            };
            bump(&self.counters.validation_overflow);
            self.report(&pending.id, &pending.via, MessageAcceptance::Ignore);
            self.retries
                .ignored(&pending.content, pending.via, Instant::now());
        }
    }

    pub(super) fn on_verdict(&mut self, validated: Validated) {
        let Validated { pending, verdict } = validated;
        let acceptance = match verdict {
            GossipVerdict::Accept => MessageAcceptance::Accept,
            GossipVerdict::Reject(_) => MessageAcceptance::Reject,
            GossipVerdict::Ignore => MessageAcceptance::Ignore,
        };
        self.report(&pending.id, &pending.via, acceptance);
        let now = Instant::now();
        if !matches!(verdict, GossipVerdict::Ignore) {
            // Judged: further copies are plain duplicates and cost their senders no rate.
            self.swarm
                .behaviour_mut()
                .gossipsub
                .settled(&pending.content, now);
        }
        match verdict {
            GossipVerdict::Accept => {
                bump(&self.counters.accepted);
                // Delivering valid gossip is what earns a peer its connection slot.
                self.swarm
                    .behaviour_mut()
                    .admission
                    .record_valid(pending.via, now);
                self.inbox.push(GossipMessage {
                    kind: pending.kind,
                    data: pending.data,
                    origin: pending.origin,
                    via: pending.via,
                    id: pending.content,
                    received_at: now,
                });
            }
            GossipVerdict::Reject(reason) => {
                bump(&self.counters.rejected);
                self.reasons.record(&reason);
                self.check_score(pending.via);
            }
            GossipVerdict::Ignore => {
                bump(&self.counters.ignored);
                // The next copy of this payload, from another peer, is judged afresh.
                self.retries.ignored(&pending.content, pending.via, now);
            }
        }
    }

    /// Disconnects and bans `peer` if its score reached the disconnect threshold.
    pub(super) fn check_score(&mut self, peer: PeerId) {
        let score = self.swarm.behaviour().gossipsub.inner().peer_score(&peer);
        if score.is_some_and(|s| s <= self.scoring.disconnect_threshold) {
            self.ban(peer);
        }
    }

    pub(super) fn ban(&mut self, peer: PeerId) {
        let now = Instant::now();
        let until = deadline(now, self.scoring.ban_duration);
        if !self.banned.contains_key(&peer) && self.banned.len() >= MAX_BANNED {
            // Keep the ban list bounded even against an attacker with many identities.
            let soonest = self
                .banned
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(peer, _)| *peer);
            if let Some(released) = soonest {
                self.banned.remove(&released);
                self.swarm.behaviour_mut().blocked.unblock_peer(released);
            }
        }
        if self.banned.insert(peer, until).is_none() {
            bump(&self.counters.peers_banned);
        }
        let behaviour = self.swarm.behaviour_mut();
        // Its addresses refuse new identities for a while (before the block
        // closes the connections they are read from).
        behaviour.admission.ban_addresses_of(&peer, now);
        // Closes its connections and refuses new ones until the ban expires.
        behaviour.blocked.block_peer(peer);
        if let Some(kad) = behaviour.kad.as_mut() {
            kad.remove_peer(&peer);
        }
    }

    pub(super) fn on_tick(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in expired {
            self.banned.remove(&peer);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
        let behaviour = self.swarm.behaviour_mut();
        behaviour.admission.expire(now);
        behaviour.gossipsub.refresh(now);

        // Scores also fall for reasons other than our own rejections (P6, P7).
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in &connected {
            self.check_score(*peer);
        }

        // Alone? Knock on the bootstrap peers' doors again.
        let redial_due = self
            .last_redial
            .is_none_or(|at| now.saturating_duration_since(at) >= REDIAL_INTERVAL);
        if connected.is_empty() && !self.bootstrap.is_empty() && redial_due {
            self.join_network();
        }
    }

    pub(super) fn on_identify(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        if info.protocol_version != self.identify_protocol {
            // A peer of another network (or another protocol family): part ways.
            bump(&self.counters.foreign_peers);
            let _ = self.swarm.disconnect_peer_id(peer_id);
            return;
        }
        let speaks_kad = info.protocols.contains(&self.kad_protocol);
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            if speaks_kad {
                for addr in info.listen_addrs {
                    kad.add_address(&peer_id, addr);
                }
            }
        }
    }

    pub(super) fn on_mdns(&mut self, event: mdns::Event) {
        let mdns::Event::Discovered(found) = event else {
            return;
        };
        for (peer, addr) in found {
            if self.banned.contains_key(&peer) || self.swarm.is_connected(&peer) {
                continue;
            }
            if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                kad.add_address(&peer, addr.clone());
            }
            let _ = self.swarm.dial(addr.with(Protocol::P2p(peer)));
        }
    }

    pub(super) fn on_challenge(&mut self, event: request_response::Event<WireBytes, WireResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_challenge_request(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    let Some(reply) = self.outbound.remove(&request_id) else {
                        return;
                    };
                    let answer = match response {
                        WireResponse::Proof(proof) => {
                            bump(&self.counters.challenges_answered);
                            Ok(proof.0)
                        }
                        WireResponse::Refused(reason) => {
                            bump(&self.counters.challenges_failed);
                            Err(Error::ChallengeRefused(reason))
                        }
                    };
                    let _ = reply.send(answer);
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                let Some(reply) = self.outbound.remove(&request_id) else {
                    return;
                };
                bump(&self.counters.challenges_failed);
                let error = match error {
                    request_response::OutboundFailure::Timeout => {
                        Error::ChallengeTimeout(self.challenge_timeout)
                    }
                    other => Error::Challenge(other.to_string()),
                };
                let _ = reply.send(Err(error));
            }
            // Inbound failures (timeouts, closed connections) need no action:
            // the in-flight count is released when the handler returns.
            _ => {}
        }
    }

    pub(super) fn refuse(&mut self, channel: ResponseChannel<WireResponse>, reason: &str) {
        bump(&self.counters.challenges_refused);
        let _ = self
            .swarm
            .behaviour_mut()
            .challenge
            .send_response(channel, WireResponse::Refused(reason.to_owned()));
    }

    pub(super) fn on_challenge_request(
        &mut self,
        peer: PeerId,
        request: WireBytes,
        channel: ResponseChannel<WireResponse>,
    ) {
        if !self.challenge_limiter.check(&peer, Instant::now()) {
            return self.refuse(channel, "rate limited");
        }
        let Some(handler) = self.handler.clone() else {
            return self.refuse(channel, "challenges are not served here");
        };
        if self.inbound_in_flight >= self.limits.max_inbound_challenges {
            return self.refuse(channel, "busy");
        }
        self.inbound_in_flight += 1;
        let done = self.done_tx.clone();
        let max = self.limits.max_challenge_response_size;
        tokio::spawn(async move {
            let answer = tokio::task::spawn_blocking(move || {
                catch_unwind(AssertUnwindSafe(|| handler.respond(&peer, &request.0)))
            })
            .await;
            let response = match answer {
                Ok(Ok(Ok(proof))) if proof.len() <= max => WireResponse::Proof(WireBytes(proof)),
                Ok(Ok(Ok(_))) => WireResponse::Refused("proof too large".into()),
                Ok(Ok(Err(reason))) => WireResponse::Refused(truncate(reason)),
                Ok(Err(_)) | Err(_) => WireResponse::Refused("internal error".into()),
            };
            // Fails only if the node shut down meanwhile.
            let _ = done.send(InboundDone { channel, response }).await;
        });
    }

    pub(super) fn on_inbound_done(&mut self, done: InboundDone) {
        self.inbound_in_flight = self.inbound_in_flight.saturating_sub(1);
        match done.response {
            WireResponse::Proof(_) => bump(&self.counters.challenges_served),
            WireResponse::Refused(_) => bump(&self.counters.challenges_refused),
        }
        // Fails if the challenger gave up (timeout) or disconnected; nothing to do.
        let _ = self
            .swarm
            .behaviour_mut()
            .challenge
            .send_response(done.channel, done.response);
    }
}

/// Cuts a refusal reason to [`behaviour::MAX_REFUSAL_LEN`] bytes on a character boundary.
pub(super) fn truncate(mut reason: String) -> String {
    if reason.len() > behaviour::MAX_REFUSAL_LEN {
        let mut end = behaviour::MAX_REFUSAL_LEN;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn truncate_respects_char_boundaries() {
        let long = "é".repeat(200);
        let cut = truncate(long);
        assert!(cut.len() <= behaviour::MAX_REFUSAL_LEN);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
