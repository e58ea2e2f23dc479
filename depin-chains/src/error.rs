//! The one error type of depin-chains.
//!
//! Every backend maps its native failures (contract revert data, CosmWasm error strings, local
//! ledger checks) onto these variants, so code above the trait can match on *what* went wrong
//! without knowing which chain it talks to. The conformance suite asserts the variant for every
//! failure path.

use crate::types::Account;
use depin_core::Epoch;

/// Result alias with [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// A boxed, thread-safe source error (transport and I/O causes).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong talking to a chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device, transaction or other record does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The device is already registered (revoked devices stay registered: revocation is final).
    #[error("device already registered: {0}")]
    AlreadyRegistered(String),
    /// The device was already revoked.
    #[error("device already revoked: {0}")]
    AlreadyRevoked(String),
    /// A registration signature or a Merkle claim proof does not verify. Deliberately opaque.
    #[error("invalid proof")]
    InvalidProof,
    /// Nothing left to claim: the cumulative amount is not above what was already claimed.
    #[error(
        "already claimed: {account} asked for cumulative {cumulative}, already claimed {claimed}"
    )]
    AlreadyClaimed {
        /// The claiming account.
        account: Account,
        /// The cumulative amount in the claim.
        cumulative: u128,
        /// What the account has already been paid in total.
        claimed: u128,
    },
    /// The caller lacks the role or ownership the operation needs.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The distributor (or the sender, for fees) does not hold enough funds.
    #[error("insufficient funds: {available} available, {required} required")]
    InsufficientFunds {
        /// Balance available, in base units.
        available: u128,
        /// Amount required, in base units.
        required: u128,
    },
    /// A different root (or total) was already published for this epoch.
    #[error("{epoch} already has a different root")]
    EpochAlreadyPublished {
        /// The epoch.
        epoch: Epoch,
    },
    /// The epoch is not published and not after the latest published epoch.
    #[error("{epoch} is not after the latest published {latest}")]
    EpochNotIncreasing {
        /// The epoch that was refused.
        epoch: Epoch,
        /// The latest published epoch.
        latest: Epoch,
    },
    /// The epoch is further ahead of the latest published epoch than the distributor accepts
    /// (EVM `RewardDistributor`: at most `MAX_EPOCH_GAP` = 366 above `latestEpoch()`, and at
    /// most 366 for the first root). The EVM backend checks this before sending. Publish the
    /// cumulative root at intermediate epochs, each at most `max` ahead, to move further.
    #[error("{epoch} is too far ahead: the highest epoch accepted now is {max}")]
    EpochGapTooLarge {
        /// The epoch that was refused.
        epoch: Epoch,
        /// The highest epoch the distributor accepts next.
        max: Epoch,
    },
    /// A device-signed permit's deadline (unix seconds) lies further in the future than the
    /// registry accepts (EVM `DeviceRegistry`: at most `MAX_PERMIT_LIFETIME` = 30 days after
    /// the including block). The EVM backend checks this against the latest block before
    /// sending; sign a deadline of at most `max`.
    #[error("deadline {deadline} is too far ahead: the latest deadline accepted now is {max}")]
    DeadlineTooFar {
        /// The deadline that was refused, unix seconds.
        deadline: u64,
        /// The latest deadline accepted now, unix seconds.
        max: u64,
    },
    /// A claim was made before any root was published.
    #[error("no reward root has been published")]
    NoRoot,
    /// A signed registration's deadline (unix seconds) has passed.
    #[error("registration deadline {deadline} has passed")]
    Expired {
        /// The deadline, unix seconds.
        deadline: u64,
    },
    /// An argument is not acceptable (zero root, zero address, malformed account, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A maker has onboarded as many devices as its quota allows.
    #[error("maker {maker} has used its quota of {quota} devices")]
    QuotaExceeded {
        /// The maker.
        maker: String,
        /// Its quota.
        quota: u64,
    },
    /// Hardware evidence was refused: no verifier for its kind, or the verifier's reason
    /// (a broken chain, another key, another nonce, a revoked or expired certificate, ...).
    #[error("hardware evidence refused: {0}")]
    Evidence(String),
    /// The backend cannot do this (for example an Ed25519 device on the EVM registry).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The contract is paused (EVM `RewardDistributor` after its guardian called `pause()`:
    /// claims are refused until the admin unpauses it; the oracle can still publish roots).
    /// Retrying the same call helps only after an unpause, so this is not a retryable transport
    /// error.
    #[error("paused: {0}")]
    Paused(String),
    /// The transport failed. `retryable` says whether the same request may succeed later
    /// (timeouts, connection resets, rate limits, nonce races) or not (bad URL, HTTP 4xx).
    #[error("transport error ({}): {message}", if *retryable { "retryable" } else { "permanent" })]
    Transport {
        /// Whether retrying the same request may succeed.
        retryable: bool,
        /// What failed.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The transaction was executed and reverted for a reason no other variant describes.
    #[error("transaction reverted: {reason}")]
    Reverted {
        /// The decoded revert reason (or the raw revert data in hex).
        reason: String,
    },
    /// The configuration is invalid or names a backend compiled out of this build.
    #[error("configuration error: {0}")]
    Config(String),
    /// The backend's cargo feature is not enabled in this build.
    #[error("the `{0}` backend is not compiled in (enable the `{0}` cargo feature)")]
    FeatureNotCompiled(&'static str),
    /// Local storage failed (I/O error, fsync failure).
    #[error("storage error: {0}")]
    Storage(#[from] std::io::Error),
    /// Stored data is corrupt in a way that is not a torn tail (which is repaired silently).
    #[error("corrupt ledger: {0}")]
    Corrupt(String),
    /// A depin-core error (key parsing, address parsing, signing).
    #[error(transparent)]
    Core(#[from] depin_core::Error),
}

impl Error {
    /// A retryable transport error with a message.
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transport {
            retryable: true,
            message: message.into(),
            source: None,
        }
    }

    /// A non-retryable transport error with a message.
    pub fn permanent(message: impl Into<String>) -> Self {
        Error::Transport {
            retryable: false,
            message: message.into(),
            source: None,
        }
    }

    /// `true` for transport errors that may succeed on retry.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Transport {
                retryable: true,
                ..
            }
        )
    }
}
