//! Peer-to-peer gossip of attestations over libp2p (feature `p2p`).
//!
//! Gateways, devices with IP links and verifier nodes exchange attestations
//! so that no single server has to receive everything. A [`Node`] joins a
//! network by its id and runs:
//!
//! - **Transports**: TCP (Noise + Yamux) and QUIC.
//! - **Discovery**: Identify, Kademlia seeded from bootstrap peers, and
//!   optionally mDNS (off by default).
//! - **Gossip**: Gossipsub with one topic per network and attestation kind,
//!   `depin/<network-id>/<kind>/1`. Validation is explicit: every message
//!   received goes through the application's [`GossipValidator`] before it is
//!   forwarded. Rejected messages are not forwarded and cost their sender peer
//!   score; a sender whose score falls to the disconnect threshold is cut off
//!   and banned for a while, and the addresses it came from take no new
//!   identities for a while either. Message ids are content hashes, so
//!   duplicates are dropped wherever they come from; but nothing that is
//!   dropped or ignored can suppress the same payload arriving from another
//!   peer: a message over its sender's rate or without room in the validation
//!   queue is dropped before Gossipsub records its id, and a payload whose copy
//!   was ignored gets a fresh id for the next copy.
//! - **Connections**: inbound and outbound slots are counted apart, peers that
//!   delivered valid gossip (and configured or bootstrap peers) keep their
//!   place, unproven inbound peers give way to newcomers after a grace period,
//!   and each address brings in a bounded number of identities (see [`Limits`]);
//!   a [`PeerFilter`] can admit only registered peers (see [`Node::with_peer_filter`]).
//! - **Challenges**: a request-response protocol (CBOR) so a verifier can send
//!   a prover a challenge (for example a storage challenge) and receive the
//!   proof, with a timeout. The prover side is a [`ChallengeHandler`].
//!
//! Everything is bounded: payload sizes, the command and validation queues,
//! the application's queue of verified attestations ([`Inbox`], which drops
//! and counts rather than grows), per-peer rates (checked before any
//! validation work, and before Gossipsub's duplicate filter), connections (per
//! direction, per peer and per address) and in-flight challenges.
//!
//! Payloads are opaque bytes, already canonical-encoded attestations; the
//! gossip layer does not decode them. The verifier plugs in through
//! [`GossipValidator`] and [`ChallengeHandler`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use depin_attest::p2p::{GossipValidator, Node, NodeConfig, GossipVerdict};
//!
//! struct StartsWithOk;
//! impl GossipValidator for StartsWithOk {
//!     fn validate(&self, _kind: &str, data: &[u8]) -> GossipVerdict {
//!         if data.starts_with(b"ok") { GossipVerdict::Accept } else { GossipVerdict::reject("bad prefix") }
//!     }
//! }
//!
//! # async fn run() -> Result<(), depin_attest::p2p::Error> {
//! let config = NodeConfig::new("helium-iot").with_loopback();
//! let (node, mut inbox) = Node::new(config, Arc::new(StartsWithOk)).start().await?;
//! println!("listening as {} on {:?}", node.peer_id(), node.listen_addrs().await?);
//! while let Some(attestation) = inbox.recv().await {
//!     println!("{} bytes of {}", attestation.data.len(), attestation.kind);
//! }
//! node.shutdown().await
//! # }
//! ```

use std::borrow::Cow;

mod admission;
mod behaviour;
mod config;
mod counters;
mod error;
mod guard;
mod handle;
mod inbox;
mod node;
mod rate;
mod task;

pub use config::{
    topic_name, Limits, NodeConfig, ScoringConfig, DEFAULT_KINDS, GOSSIP_FRAME_OVERHEAD,
    MAX_KIND_LEN, MAX_NETWORK_ID_LEN,
};
pub use error::{Error, Result};
pub use handle::{NodeHandle, NodeStats};
pub use inbox::{GossipMessage, Inbox, OverflowPolicy};
pub use libp2p::{identity::Keypair, Multiaddr, PeerId};
pub use node::Node;
pub use rate::RateLimit;

/// The outcome of validating one gossiped attestation.
///
/// Maps one to one onto Gossipsub's explicit validation results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GossipVerdict {
    /// Valid: deliver it to the application and forward it to the mesh.
    Accept,
    /// Invalid: drop it and penalise the peer that sent it. The reason is
    /// counted in [`NodeHandle::rejection_reasons`]; keep it short and
    /// low-cardinality (a reason code, not a message with values in it).
    Reject(Cow<'static, str>),
    /// Not wanted, but no fault of the sender (for example too old to matter
    /// or for an epoch not yet open): drop it without a penalty. An ignored
    /// copy does not stand for the payload: the next copy from another peer is
    /// validated again (a peer is not asked twice for the same payload). Use
    /// [`GossipVerdict::Reject`] for payloads that are invalid whoever sends them.
    Ignore,
}

impl GossipVerdict {
    /// A rejection with a static reason code.
    pub const fn reject(reason: &'static str) -> Self {
        GossipVerdict::Reject(Cow::Borrowed(reason))
    }
}

/// Decides on gossiped attestations before they spread; implemented by the verifier.
///
/// Called from a blocking thread (never from the async runtime), in batches,
/// so an implementation may use batch signature verification and take its
/// time. It must not panic; if a batch panics, each of its items is validated
/// again on its own, and only the items that panic again are ignored (each
/// panic is counted).
pub trait GossipValidator: Send + Sync + 'static {
    /// Decides on the raw attestation `data` gossiped under `kind` (a topic
    /// label such as `"report"`, `"coverage"`, `"storage"`, `"energy"`, `"bandwidth"`).
    fn validate(&self, kind: &str, data: &[u8]) -> GossipVerdict;

    /// Decides on a batch of `(kind, data)` pairs, returning one verdict per
    /// item in order. The default calls [`GossipValidator::validate`] on each;
    /// override it to verify signatures in a batch. Missing verdicts count as
    /// [`GossipVerdict::Ignore`], extra ones are discarded.
    fn validate_batch(&self, batch: &[(&str, &[u8])]) -> Vec<GossipVerdict> {
        batch
            .iter()
            .map(|(kind, data)| self.validate(kind, data))
            .collect()
    }
}

impl<F> GossipValidator for F
where
    F: Fn(&str, &[u8]) -> GossipVerdict + Send + Sync + 'static,
{
    fn validate(&self, kind: &str, data: &[u8]) -> GossipVerdict {
        self(kind, data)
    }
}

/// Decides which peers may connect at all, for example only peers whose key is
/// registered with the network (see [`Node::with_peer_filter`]).
///
/// Asked on the node's network task for every new connection of a peer that
/// is not trusted, after the handshake has authenticated its peer id, in both
/// directions. It must be fast and must not block; a panic counts as a refusal.
pub trait PeerFilter: Send + Sync + 'static {
    /// True if `peer` may connect.
    fn allow(&self, peer: &PeerId) -> bool;
}

impl<F> PeerFilter for F
where
    F: Fn(&PeerId) -> bool + Send + Sync + 'static,
{
    fn allow(&self, peer: &PeerId) -> bool {
        self(peer)
    }
}

/// Answers challenges sent by other peers (the prover side); implemented by
/// the application, for example from its storage commitments.
///
/// Called from a blocking thread, at most
/// [`Limits::max_inbound_challenges`] at a time. The answer must arrive
/// within the challenger's timeout to be of any use.
pub trait ChallengeHandler: Send + Sync + 'static {
    /// Answers `request` from `from` with the proof bytes, or refuses with a
    /// short reason (sent back to the challenger, truncated to 256 bytes).
    fn respond(&self, from: &PeerId, request: &[u8]) -> std::result::Result<Vec<u8>, String>;
}

impl<F> ChallengeHandler for F
where
    F: Fn(&PeerId, &[u8]) -> std::result::Result<Vec<u8>, String> + Send + Sync + 'static,
{
    fn respond(&self, from: &PeerId, request: &[u8]) -> std::result::Result<Vec<u8>, String> {
        self(from, request)
    }
}
