//! The cumulative reward distributor contract's messages.
//!
//! The oracle publishes one root per epoch over every account's *cumulative* earnings
//! ([`ExecuteMsg::PublishRoot`]); anyone submits an account's claim, its cumulative amount
//! and a proof ([`ExecuteMsg::Claim`]), and the account is paid, in the cw20 token the
//! contract holds, the difference to what it was already paid. Leaves and nodes are those of
//! `cw20-merkle-airdrop` (leaf `SHA-256(address || amount in decimal)`, nodes
//! `SHA-256` of the sorted pair), which `depin_rewards::claims::cw20` builds. Epochs are
//! `u64`: any epoch above the latest may be published next.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// How long after a new root a proof against the root before it is still accepted (seconds):
/// the same one day the EVM distributor grants, so a claim signed just before a publication
/// does not fail. A root two publications back is never accepted.
pub const PREVIOUS_ROOT_GRACE_SECONDS: u64 = 86_400;

/// Instantiation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstantiateMsg {
    /// The admin (changes the oracle); the instantiating account when `None`.
    pub admin: Option<String>,
    /// The account that publishes roots.
    pub oracle: String,
    /// The cw20 token contract the rewards are paid in; the distributor pays from its own
    /// balance (fund it with a cw20 `transfer` to the distributor's address).
    pub token: String,
}

/// Execute messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ExecuteMsg {
    /// Publish an epoch's root (oracle only). Republishing the same root and total for the
    /// same epoch is refused as "Epoch already published"; an epoch not above the latest as
    /// "Epoch not increasing".
    PublishRoot {
        /// The epoch.
        epoch: u64,
        /// The root, lowercase hex (32 bytes, not all zero).
        merkle_root: String,
        /// The sum of all cumulative amounts under the root (decimal): the contract never
        /// pays more than this in all.
        total_amount: String,
    },
    /// Claim for `account`: pays it `amount` minus what it was already paid. Anyone may
    /// submit a claim (a relayer paying the fee); the tokens go to `account`, whose leaf the
    /// proof must reach.
    Claim {
        /// The account paid (bech32).
        account: String,
        /// The epoch whose root the proof is against: the latest, or the one before within
        /// [`PREVIOUS_ROOT_GRACE_SECONDS`] of the latest's publication.
        epoch: u64,
        /// The account's cumulative amount (decimal).
        amount: String,
        /// Sibling hashes from leaf to root, lowercase hex.
        proof: Vec<String>,
    },
    /// Replace the oracle (admin only).
    SetOracle {
        /// The new oracle.
        oracle: String,
    },
    /// First step of an admin handover (admin only).
    ProposeAdmin {
        /// The proposed admin.
        admin: String,
    },
    /// Second step: the proposed admin takes over.
    AcceptAdmin {},
}

/// Query messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum QueryMsg {
    /// An epoch's root ([`RootResponse`]); "Epoch not found" if never published.
    Root {
        /// The epoch.
        epoch: u64,
    },
    /// The latest root ([`LatestRootResponse`]).
    LatestRoot {},
    /// What an account was paid in all ([`ClaimedResponse`]).
    Claimed {
        /// Bech32 address.
        address: String,
    },
    /// Admin, oracle, token and totals ([`ConfigResponse`]).
    Config {},
}

/// Answer to [`QueryMsg::Root`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootResponse {
    /// The epoch.
    pub epoch: u64,
    /// Lowercase hex root.
    pub merkle_root: String,
    /// Decimal total.
    pub total_amount: String,
    /// Block time of publication, unix seconds.
    pub published_at: u64,
}

/// Answer to [`QueryMsg::LatestRoot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestRootResponse {
    /// The latest root, `None` before the first publication.
    pub root: Option<RootResponse>,
}

/// Answer to [`QueryMsg::Claimed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedResponse {
    /// Decimal cumulative amount paid.
    pub claimed: String,
}

/// Answer to [`QueryMsg::Config`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigResponse {
    /// The admin.
    pub admin: String,
    /// An admin proposed and not yet accepted.
    pub pending_admin: Option<String>,
    /// The oracle.
    pub oracle: String,
    /// The cw20 token.
    pub token: String,
    /// Paid in all (decimal).
    pub total_paid: String,
}
