//! The error type of the gossip layer.

use std::time::Duration;

/// `Result` with the gossip layer's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the gossip layer.
///
/// Transport and configuration errors say exactly what was wrong; a remote
/// peer's refusal carries the reason it sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is inconsistent (for example an empty network id or a
    /// disconnect threshold below the graylist threshold).
    #[error("invalid p2p configuration: {0}")]
    InvalidConfig(String),

    /// [`Node::start`](super::Node::start) was polled outside a tokio runtime.
    #[error("the p2p node must be started inside a tokio runtime")]
    NoRuntime,

    /// Building the transport (TCP, QUIC, Noise, Yamux) or a behaviour failed.
    #[error("transport setup failed: {0}")]
    Transport(String),

    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address that could not be bound.
        addr: String,
        /// Why.
        reason: String,
    },

    /// An address could not be dialled.
    #[error("cannot dial {addr}: {reason}")]
    Dial {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },

    /// The kind is not one of the kinds this node joined.
    #[error("attestation kind {0:?} is not configured on this node")]
    UnknownKind(String),

    /// A payload is larger than the configured maximum.
    #[error("message of {size} bytes exceeds the maximum of {max} bytes")]
    MessageTooLarge {
        /// Size of the rejected payload.
        size: usize,
        /// The configured maximum.
        max: usize,
    },

    /// The local validator rejected an attestation this node was asked to publish.
    #[error("attestation rejected by the local validator: {0}")]
    Rejected(String),

    /// The local validator chose to ignore an attestation this node was asked to publish.
    #[error("attestation ignored by the local validator")]
    Ignored,

    /// No connected peer is subscribed to the topic yet; retry after the mesh forms.
    #[error("no peer is subscribed to the topic yet")]
    NoPeers,

    /// The same payload was already published (message ids are content hashes).
    #[error("this attestation was already published")]
    Duplicate,

    /// Gossipsub refused to publish for another reason.
    #[error("publish failed: {0}")]
    Publish(String),

    /// Too many outbound challenges are waiting for answers.
    #[error("too many challenges in flight")]
    Busy,

    /// The challenged peer did not answer in time.
    #[error("challenge timed out after {0:?}")]
    ChallengeTimeout(Duration),

    /// The challenged peer answered with a refusal.
    #[error("challenge refused by the peer: {0}")]
    ChallengeRefused(String),

    /// The challenge could not be delivered or its answer not read.
    #[error("challenge failed: {0}")]
    Challenge(String),

    /// The node has shut down (or its task ended); the request was not carried out.
    #[error("the p2p node has shut down")]
    Shutdown,
}
