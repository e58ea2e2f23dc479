//! The node: one swarm task, one validation worker, and cheap cloneable handles.
//!
//! ```text
//!  NodeHandle --commands (bounded)--> swarm task --pending (bounded, try_send)--> validation worker
//!                                         ^  |                                      | spawn_blocking(validator)
//!                                         |  +--verified--> Inbox (bounded)          |
//!                                         +----------verdicts (bounded)-------------+
//! ```
//!
//! The swarm task never waits on a queue it feeds. Before Gossipsub records a
//! message's id, the gossip guard (see `guard`) drops what is over its sender's
//! rate or what the validation queue has no room for, so neither can suppress
//! the same payload arriving from another peer; the inbox drops by policy and
//! counts.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use libp2p::{
    gossipsub::{self, MessageAcceptance, MessageId, PublishError, TopicHash},
    identify,
    identity::Keypair,
    mdns,
    multiaddr::Protocol,
    noise,
    request_response::{self, OutboundRequestId, ResponseChannel},
    swarm::SwarmEvent,
    tcp, yamux, Multiaddr, PeerId, Swarm, SwarmBuilder,
};
use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

use super::{
    admission::deadline,
    behaviour::{self, Behaviour, BehaviourEvent, TopicKinds, WireBytes, WireResponse},
    config::{Limits, NodeConfig, ScoringConfig},
    counters::{bump, read, Counters},
    error::{Error, Result},
    guard::Retries,
    inbox::{self, GossipMessage, Inbox, InboxCounters, InboxSender},
    rate::PeerLimiter,
    ChallengeHandler, GossipValidator, GossipVerdict, PeerFilter,
};

/// How long [`Node::start`] waits for every listener to report an address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Period of the housekeeping tick (bans, score checks, rejoin).
const TICK: Duration = Duration::from_secs(1);
/// Minimum time between two attempts to re-dial the bootstrap peers while alone.
const REDIAL_INTERVAL: Duration = Duration::from_secs(3);
/// Distinct rejection reasons tracked; the rest are counted under [`OTHER_REASON`].
const MAX_REASONS: usize = 32;
/// Bucket for rejection reasons beyond [`MAX_REASONS`].
const OTHER_REASON: &str = "other";
/// Most peers banned at once; beyond it the ban closest to expiry is lifted early.
const MAX_BANNED: usize = 4096;
/// Extra time a caller waits beyond the protocol's own challenge timeout.
const CHALLENGE_GRACE: Duration = Duration::from_secs(2);

/// A node that has not started yet: configuration, validator, optional
/// challenge handler and optional peer filter.
pub struct Node {
    config: NodeConfig,
    validator: Arc<dyn GossipValidator>,
    challenges: Option<Arc<dyn ChallengeHandler>>,
    peer_filter: Option<Arc<dyn PeerFilter>>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("config", &self.config)
            .field("challenge_handler", &self.challenges.is_some())
            .field("peer_filter", &self.peer_filter.is_some())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node for `config` whose gossip is checked by `validator`.
    pub fn new(config: NodeConfig, validator: Arc<dyn GossipValidator>) -> Self {
        Self {
            config,
            validator,
            challenges: None,
            peer_filter: None,
        }
    }

    /// Serves challenges from other peers with `handler` (without one, every
    /// challenge is refused).
    pub fn with_challenge_handler(mut self, handler: Arc<dyn ChallengeHandler>) -> Self {
        self.challenges = Some(handler);
        self
    }

    /// Lets only the peers `filter` allows connect, in either direction (for
    /// example only peers whose key is registered with the network): the
    /// strongest answer to identities that cost nothing. Trusted and bootstrap
    /// peers are not asked. Without a filter every peer may connect, within
    /// the connection limits.
    pub fn with_peer_filter(mut self, filter: Arc<dyn PeerFilter>) -> Self {
        self.peer_filter = Some(filter);
        self
    }

    /// Binds the listen addresses, dials the bootstrap peers, subscribes to
    /// every kind's topic and spawns the node's tasks on the current tokio
    /// runtime.
    ///
    /// Returns once every listener has an address, with a handle to control
    /// the node and the bounded queue of verified attestations.
    pub async fn start(self) -> Result<(NodeHandle, Inbox)> {
        let Node {
            config,
            validator,
            challenges,
            peer_filter,
        } = self;
        config.validate()?;
        tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;

        let bootstrap = config
            .bootstrap
            .iter()
            .map(|addr| {
                peer_of(addr)
                    .map(|peer| (peer, addr.clone()))
                    .ok_or_else(|| {
                        Error::InvalidConfig(format!(
                            "bootstrap address {addr} must end in /p2p/<peer id>"
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;

        let keypair = config
            .keypair
            .clone()
            .unwrap_or_else(Keypair::generate_ed25519);
        let protocols =
            behaviour::Protocols::new(&config.network_id).map_err(Error::InvalidConfig)?;
        let counters = Arc::new(Counters::default());
        let retries = Arc::new(Retries::new(behaviour::SEEN_TTL));
        let trusted: Vec<PeerId> = bootstrap
            .iter()
            .map(|(peer, _)| *peer)
            .chain(config.trusted_peers.iter().copied())
            .collect();
        let mut topics: Option<TopicKinds> = None;
        let mut swarm = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| Error::Transport(e.to_string()))?
            .with_quic()
            .with_behaviour(|key| {
                let admitted = behaviour::Admitted {
                    trusted,
                    filter: peer_filter,
                };
                let (behaviour, kinds) =
                    behaviour::build(key, &config, &protocols, admitted, &retries, &counters)?;
                topics = Some(kinds);
                Ok(behaviour)
            })
            .map_err(|e| Error::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
            .build();
        let topics = topics.ok_or_else(|| Error::Transport("behaviour was not built".into()))?;
        let peer_id = *swarm.local_peer_id();

        listen(&mut swarm, &config.listen_addrs).await?;

        let reasons = Arc::new(Reasons::default());
        let limits = config.limits.clone();
        let (inbox_tx, inbox) = inbox::inbox(limits.inbox_capacity, limits.inbox_overflow);
        let inbox_counters = inbox_tx.counters();
        let (command_tx, command_rx) = mpsc::channel(limits.command_queue);
        let (pending_tx, pending_rx) = mpsc::channel(limits.validation_queue);
        let (verdict_tx, verdict_rx) = mpsc::channel(limits.validation_queue);
        let (done_tx, done_rx) = mpsc::channel(limits.max_inbound_challenges);
        let (stopped_tx, stopped_rx) = watch::channel(false);

        let worker = tokio::spawn(validation_worker(
            Arc::clone(&validator),
            pending_rx,
            verdict_tx,
            limits.validation_batch,
            Arc::clone(&counters),
        ));

        let mut task = Task {
            swarm,
            topics: topics.clone(),
            identify_protocol: protocols.identify,
            kad_protocol: protocols.kad,
            bootstrap,
            last_redial: None,
            retries,
            challenge_limiter: PeerLimiter::new(
                limits.challenge_rate,
                limits.max_connections as usize,
            ),
            pending_tx,
            inbox: inbox_tx,
            counters: Arc::clone(&counters),
            reasons: Arc::clone(&reasons),
            handler: challenges,
            inbound_in_flight: 0,
            done_tx,
            outbound: HashMap::new(),
            banned: HashMap::new(),
            scoring: config.scoring.clone(),
            limits: limits.clone(),
            challenge_timeout: config.challenge_timeout,
        };
        task.join_network();
        tokio::spawn(task.run(command_rx, verdict_rx, done_rx, worker, stopped_tx));

        let kinds = topics
            .iter()
            .map(|(hash, kind)| (Arc::clone(kind), hash.clone()))
            .collect();
        let handle = NodeHandle {
            inner: Arc::new(Inner {
                peer_id,
                network_id: config.network_id.clone(),
                commands: command_tx,
                validator,
                kinds,
                max_message_size: limits.max_message_size,
                max_challenge_size: limits.max_challenge_size,
                challenge_timeout: config.challenge_timeout,
                counters,
                reasons,
                inbox: inbox_counters,
                stopped: stopped_rx,
            }),
        };
        Ok((handle, inbox))
    }
}

/// Binds every address and waits until each listener reports one.
async fn listen(swarm: &mut Swarm<Behaviour>, addrs: &[Multiaddr]) -> Result<()> {
    let mut waiting = HashMap::new();
    for addr in addrs {
        let id = swarm.listen_on(addr.clone()).map_err(|e| Error::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
        waiting.insert(id, addr.clone());
    }
    let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
    while !waiting.is_empty() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| Error::Listen {
                addr: waiting
                    .values()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                reason: "no address reported in time".into(),
            })?;
        match event {
            SwarmEvent::NewListenAddr { listener_id, .. } => {
                waiting.remove(&listener_id);
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                if let Some(addr) = waiting.remove(&listener_id) {
                    return Err(Error::Listen {
                        addr: addr.to_string(),
                        reason: error.to_string(),
                    });
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some(addr) = waiting.remove(&listener_id) {
                    return Err(Error::Listen {
                        addr: addr.to_string(),
                        reason: match reason {
                            Ok(()) => "listener closed".into(),
                            Err(e) => e.to_string(),
                        },
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The peer id at the end of an address (`.../p2p/<peer id>`), if any.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// The address without its `/p2p/<peer id>` part.
fn without_peer(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/// A snapshot of a node's counters, from [`NodeHandle::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// Attestations this node published.
    pub published: u64,
    /// Gossip messages received: those handed to validation (Gossipsub drops
    /// duplicates before this) plus those dropped over rate or for a full
    /// validation queue (which happens before duplicates are recognised).
    pub received: u64,
    /// Messages the validator accepted (delivered and forwarded).
    pub accepted: u64,
    /// Messages the validator rejected (dropped, sender penalised).
    pub rejected: u64,
    /// Messages the validator ignored.
    pub ignored: u64,
    /// Messages dropped because their sender exceeded its rate, before
    /// Gossipsub recorded them (so they suppress no other copy) and before any
    /// validation work.
    pub rate_limited: u64,
    /// Messages dropped because the validation queue was full, likewise
    /// before Gossipsub recorded them.
    pub validation_overflow: u64,
    /// Validator calls that panicked. A batch that panics is validated again
    /// item by item; items that panic on their own are ignored.
    pub validator_panics: u64,
    /// Peers disconnected and banned for a low score.
    pub peers_banned: u64,
    /// Peers disconnected for belonging to another network.
    pub foreign_peers: u64,
    /// Connections refused by admission: inbound or outbound slots full, too
    /// many peers from one address, or a new identity from a banned address.
    pub connections_refused: u64,
    /// Inbound connections of unproven peers closed to make room for a newcomer.
    pub connections_evicted: u64,
    /// Challenges this node sent.
    pub challenges_sent: u64,
    /// Challenges this node sent that were answered with a proof.
    pub challenges_answered: u64,
    /// Challenges this node sent that timed out, failed or were refused.
    pub challenges_failed: u64,
    /// Challenges from other peers answered with a proof.
    pub challenges_served: u64,
    /// Challenges from other peers refused (rate, busy, no handler, handler refusal).
    pub challenges_refused: u64,
    /// Verified attestations waiting in the [`Inbox`] now.
    pub inbox_len: usize,
    /// Verified attestations put in the [`Inbox`] so far.
    pub inbox_delivered: u64,
    /// Verified attestations lost because the [`Inbox`] was full.
    pub inbox_dropped: u64,
}

/// Rejection counts by reason, bounded to [`MAX_REASONS`] distinct reasons.
#[derive(Debug, Default)]
struct Reasons(Mutex<BTreeMap<String, u64>>);

impl Reasons {
    fn record(&self, reason: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(reason) {
            *count += 1;
        } else if map.len() < MAX_REASONS {
            map.insert(reason.to_owned(), 1);
        } else {
            *map.entry(OTHER_REASON.to_owned()).or_default() += 1;
        }
    }

    fn snapshot(&self) -> Vec<(String, u64)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

// ---------------------------------------------------------------------------
// Handle
// ---------------------------------------------------------------------------

enum Command {
    Publish {
        topic: TopicHash,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>>>,
    },
    Challenge {
        peer: PeerId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<()>>,
    },
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    ConnectedPeers(oneshot::Sender<Vec<PeerId>>),
    MeshPeers {
        topic: TopicHash,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    TopicPeers {
        topic: TopicHash,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    PeerScore {
        peer: PeerId,
        reply: oneshot::Sender<Option<f64>>,
    },
    Shutdown,
}

struct Inner {
    peer_id: PeerId,
    network_id: String,
    commands: mpsc::Sender<Command>,
    validator: Arc<dyn GossipValidator>,
    kinds: HashMap<Arc<str>, TopicHash>,
    max_message_size: usize,
    max_challenge_size: usize,
    challenge_timeout: Duration,
    counters: Arc<Counters>,
    reasons: Arc<Reasons>,
    inbox: InboxCounters,
    stopped: watch::Receiver<bool>,
}

/// Controls a running node; cheap to clone, all clones drive the same node.
///
/// The node stops on [`NodeHandle::shutdown`] or when the last handle is dropped.
#[derive(Clone)]
pub struct NodeHandle {
    inner: Arc<Inner>,
}

impl fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeHandle")
            .field("peer_id", &self.inner.peer_id)
            .field("network_id", &self.inner.network_id)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl NodeHandle {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// The network this node joined.
    pub fn network_id(&self) -> &str {
        &self.inner.network_id
    }

    /// The kinds (topics) this node joined.
    pub fn kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = self.inner.kinds.keys().map(|k| &**k).collect();
        kinds.sort_unstable();
        kinds
    }

    /// False once the node's task has ended.
    pub fn is_running(&self) -> bool {
        !*self.inner.stopped.borrow()
    }

    fn topic(&self, kind: &str) -> Result<TopicHash> {
        self.inner
            .kinds
            .get(kind)
            .cloned()
            .ok_or_else(|| Error::UnknownKind(kind.to_owned()))
    }

    async fn send(&self, command: Command) -> Result<()> {
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| Error::Shutdown)
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.send(command(tx)).await?;
        rx.await.map_err(|_| Error::Shutdown)
    }

    /// Publishes an attestation of `kind` to the network and returns its message id.
    ///
    /// The local validator checks it first, so a node never spends its own
    /// reputation on gossip its peers would reject. Waits when the node's
    /// command queue is full.
    pub async fn publish(&self, kind: &str, data: impl Into<Vec<u8>>) -> Result<Vec<u8>> {
        let data = data.into();
        let max = self.inner.max_message_size;
        if data.len() > max {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max,
            });
        }
        let topic = self.topic(kind)?;
        let validator = Arc::clone(&self.inner.validator);
        let kind = kind.to_owned();
        let (data, verdict) = tokio::task::spawn_blocking(move || {
            let verdict = catch_unwind(AssertUnwindSafe(|| validator.validate(&kind, &data)));
            (data, verdict)
        })
        .await
        .map_err(|_| Error::Shutdown)?;
        match verdict {
            Ok(GossipVerdict::Accept) => {}
            Ok(GossipVerdict::Reject(reason)) => return Err(Error::Rejected(reason.into_owned())),
            Ok(GossipVerdict::Ignore) => return Err(Error::Ignored),
            Err(_) => {
                bump(&self.inner.counters.validator_panics);
                return Err(Error::Rejected("validator panicked".into()));
            }
        }
        self.ask(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Sends a challenge to `peer` and waits for its answer (the proof bytes).
    ///
    /// Dials the peer if needed (its address must be known, e.g. through
    /// Kademlia). Fails with [`Error::ChallengeTimeout`] if no answer arrives
    /// within the configured timeout, [`Error::ChallengeRefused`] if the peer
    /// declines, and [`Error::Busy`] if too many challenges are outstanding.
    pub async fn challenge(&self, peer: PeerId, request: impl Into<Vec<u8>>) -> Result<Vec<u8>> {
        let data = request.into();
        let max = self.inner.max_challenge_size;
        if data.len() > max {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max,
            });
        }
        let timeout = self.inner.challenge_timeout;
        let (tx, rx) = oneshot::channel();
        self.send(Command::Challenge {
            peer,
            data,
            reply: tx,
        })
        .await?;
        match tokio::time::timeout(timeout + CHALLENGE_GRACE, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Error::Shutdown),
            Err(_) => Err(Error::ChallengeTimeout(timeout)),
        }
    }

    /// Dials an address (optionally ending in `/p2p/<peer id>`).
    pub async fn dial(&self, addr: Multiaddr) -> Result<()> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// The addresses this node listens on now.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>> {
        self.ask(Command::ListenAddrs).await
    }

    /// The listen addresses with `/p2p/<peer id>` appended, ready to give to
    /// other nodes as bootstrap addresses.
    pub async fn dial_addrs(&self) -> Result<Vec<Multiaddr>> {
        let peer = self.inner.peer_id;
        Ok(self
            .listen_addrs()
            .await?
            .into_iter()
            .map(|a| a.with(Protocol::P2p(peer)))
            .collect())
    }

    /// Peers with an open connection.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>> {
        self.ask(Command::ConnectedPeers).await
    }

    /// Peers in this node's gossip mesh for `kind` (those it forwards to).
    pub async fn mesh_peers(&self, kind: &str) -> Result<Vec<PeerId>> {
        let topic = self.topic(kind)?;
        self.ask(|reply| Command::MeshPeers { topic, reply }).await
    }

    /// Connected peers subscribed to `kind` (those a publish can reach directly).
    pub async fn topic_peers(&self, kind: &str) -> Result<Vec<PeerId>> {
        let topic = self.topic(kind)?;
        self.ask(|reply| Command::TopicPeers { topic, reply }).await
    }

    /// The gossipsub score this node gives `peer` (`None` if it knows nothing of it).
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>> {
        self.ask(|reply| Command::PeerScore { peer, reply }).await
    }

    /// A snapshot of the node's counters.
    pub fn stats(&self) -> NodeStats {
        let c = &self.inner.counters;
        NodeStats {
            published: read(&c.published),
            received: read(&c.received),
            accepted: read(&c.accepted),
            rejected: read(&c.rejected),
            ignored: read(&c.ignored),
            rate_limited: read(&c.rate_limited),
            validation_overflow: read(&c.validation_overflow),
            validator_panics: read(&c.validator_panics),
            peers_banned: read(&c.peers_banned),
            foreign_peers: read(&c.foreign_peers),
            connections_refused: read(&c.connections_refused),
            connections_evicted: read(&c.connections_evicted),
            challenges_sent: read(&c.challenges_sent),
            challenges_answered: read(&c.challenges_answered),
            challenges_failed: read(&c.challenges_failed),
            challenges_served: read(&c.challenges_served),
            challenges_refused: read(&c.challenges_refused),
            inbox_len: self.inner.inbox.len(),
            inbox_delivered: self.inner.inbox.delivered(),
            inbox_dropped: self.inner.inbox.dropped(),
        }
    }

    /// Rejections by the validator's reason, sorted by reason (at most 32
    /// distinct reasons; the rest are counted under `"other"`).
    pub fn rejection_reasons(&self) -> Vec<(String, u64)> {
        self.inner.reasons.snapshot()
    }

    /// Stops the node: closes every connection, stops the validation worker
    /// and ends the [`Inbox`] stream once it is drained. Waits until the
    /// node's task has finished; calling it again (from any clone) is harmless.
    pub async fn shutdown(&self) -> Result<()> {
        // An error means the task is already gone, which is what we want.
        let _ = self.inner.commands.send(Command::Shutdown).await;
        let mut stopped = self.inner.stopped.clone();
        // An error means the task ended without saying so (the sender was dropped).
        let _ = stopped.wait_for(|stopped| *stopped).await;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Validation worker
// ---------------------------------------------------------------------------

/// A gossip message waiting for the validator.
struct Pending {
    /// Gossipsub's id for this copy.
    id: MessageId,
    /// The payload's content id (see [`behaviour::content_id`]).
    content: Vec<u8>,
    via: PeerId,
    origin: Option<PeerId>,
    kind: Arc<str>,
    data: Vec<u8>,
}

/// A gossip message and the validator's verdict.
struct Validated {
    pending: Pending,
    verdict: GossipVerdict,
}

/// Takes messages in batches, validates each batch on a blocking thread and
/// sends the verdicts back to the swarm task.
async fn validation_worker(
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
struct InboundDone {
    channel: ResponseChannel<WireResponse>,
    response: WireResponse,
}

/// The state owned by the swarm task.
struct Task {
    swarm: Swarm<Behaviour>,
    topics: TopicKinds,
    identify_protocol: String,
    kad_protocol: libp2p::StreamProtocol,
    bootstrap: Vec<(PeerId, Multiaddr)>,
    last_redial: Option<Instant>,
    retries: Arc<Retries>,
    challenge_limiter: PeerLimiter,
    pending_tx: mpsc::Sender<Pending>,
    inbox: InboxSender,
    counters: Arc<Counters>,
    reasons: Arc<Reasons>,
    handler: Option<Arc<dyn ChallengeHandler>>,
    inbound_in_flight: usize,
    done_tx: mpsc::Sender<InboundDone>,
    outbound: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>>>>,
    banned: HashMap<PeerId, Instant>,
    scoring: ScoringConfig,
    limits: Limits,
    challenge_timeout: Duration,
}

impl Task {
    async fn run(
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
    fn join_network(&mut self) {
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

    fn on_command(&mut self, command: Command) {
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

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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
    fn report(&mut self, id: &MessageId, via: &PeerId, acceptance: MessageAcceptance) {
        // `false` only means gossipsub already dropped the message from its cache.
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .report(id, via, acceptance);
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
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

    fn on_verdict(&mut self, validated: Validated) {
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
    fn check_score(&mut self, peer: PeerId) {
        let score = self.swarm.behaviour().gossipsub.inner().peer_score(&peer);
        if score.is_some_and(|s| s <= self.scoring.disconnect_threshold) {
            self.ban(peer);
        }
    }

    fn ban(&mut self, peer: PeerId) {
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

    fn on_tick(&mut self) {
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

    fn on_identify(&mut self, event: identify::Event) {
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

    fn on_mdns(&mut self, event: mdns::Event) {
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

    fn on_challenge(&mut self, event: request_response::Event<WireBytes, WireResponse>) {
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

    fn refuse(&mut self, channel: ResponseChannel<WireResponse>, reason: &str) {
        bump(&self.counters.challenges_refused);
        let _ = self
            .swarm
            .behaviour_mut()
            .challenge
            .send_response(channel, WireResponse::Refused(reason.to_owned()));
    }

    fn on_challenge_request(
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

    fn on_inbound_done(&mut self, done: InboundDone) {
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
fn truncate(mut reason: String) -> String {
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
    fn truncate_respects_char_boundaries() {
        let long = "é".repeat(200);
        let cut = truncate(long);
        assert!(cut.len() <= behaviour::MAX_REFUSAL_LEN);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn peer_suffix_round_trip() {
        let peer = PeerId::random();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let full = addr.clone().with(Protocol::P2p(peer));
        assert_eq!(peer_of(&full), Some(peer));
        assert_eq!(without_peer(&full), addr);
        assert_eq!(peer_of(&addr), None);
    }
}
