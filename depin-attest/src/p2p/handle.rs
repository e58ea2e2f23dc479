//! The node's handle: commands to the swarm task, statistics and rejection reasons.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{Arc, Mutex},
    time::Duration,
};

use libp2p::{gossipsub::TopicHash, multiaddr::Protocol, Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    counters::{bump, read, Counters},
    error::{Error, Result},
    inbox::InboxCounters,
    GossipValidator, GossipVerdict,
};

/// Distinct rejection reasons tracked; the rest are counted under [`OTHER_REASON`].
const MAX_REASONS: usize = 32;
/// Bucket for rejection reasons beyond [`MAX_REASONS`].
const OTHER_REASON: &str = "other";
/// Extra time a caller waits beyond the protocol's own challenge timeout.
const CHALLENGE_GRACE: Duration = Duration::from_secs(2);

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
    /// Verified attestations waiting in the [`Inbox`](super::Inbox) now.
    pub inbox_len: usize,
    /// Verified attestations put in the [`Inbox`](super::Inbox) so far.
    pub inbox_delivered: u64,
    /// Verified attestations lost because the [`Inbox`](super::Inbox) was full.
    pub inbox_dropped: u64,
}

/// Rejection counts by reason, bounded to [`MAX_REASONS`] distinct reasons.
#[derive(Debug, Default)]
pub(super) struct Reasons(Mutex<BTreeMap<String, u64>>);

impl Reasons {
    pub(super) fn record(&self, reason: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(reason) {
            *count += 1;
        } else if map.len() < MAX_REASONS {
            map.insert(reason.to_owned(), 1);
        } else {
            *map.entry(OTHER_REASON.to_owned()).or_default() += 1;
        }
    }

    pub(super) fn snapshot(&self) -> Vec<(String, u64)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

// ---------------------------------------------------------------------------
// Handle
// ---------------------------------------------------------------------------

pub(super) enum Command {
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

pub(super) struct Inner {
    pub(super) peer_id: PeerId,
    pub(super) network_id: String,
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) validator: Arc<dyn GossipValidator>,
    pub(super) kinds: HashMap<Arc<str>, TopicHash>,
    pub(super) max_message_size: usize,
    pub(super) max_challenge_size: usize,
    pub(super) challenge_timeout: Duration,
    pub(super) counters: Arc<Counters>,
    pub(super) reasons: Arc<Reasons>,
    pub(super) inbox: InboxCounters,
    pub(super) stopped: watch::Receiver<bool>,
}

/// Controls a running node; cheap to clone, all clones drive the same node.
///
/// The node stops on [`NodeHandle::shutdown`] or when the last handle is dropped.
#[derive(Clone)]
pub struct NodeHandle {
    pub(super) inner: Arc<Inner>,
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

    pub(super) fn topic(&self, kind: &str) -> Result<TopicHash> {
        self.inner
            .kinds
            .get(kind)
            .cloned()
            .ok_or_else(|| Error::UnknownKind(kind.to_owned()))
    }

    pub(super) async fn send(&self, command: Command) -> Result<()> {
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| Error::Shutdown)
    }

    pub(super) async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T> {
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
    /// and ends the [`Inbox`](super::Inbox) stream once it is drained. Waits until the
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
