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

/// How long an oracle set waits between being scheduled and taking effect (seconds): two
/// days, as on the EVM distributor, so that a compromised admin key cannot swap the oracles
/// and publish before anyone notices.
pub const ORACLE_SET_DELAY_SECONDS: u64 = 2 * 86_400;

/// Most oracles in one set (as `depin_chains::quorum::MAX_ORACLES`).
pub const MAX_ORACLES: usize = 64;

/// Instantiation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstantiateMsg {
    /// The admin (changes the oracle, schedules oracle sets); the instantiating account when
    /// `None`.
    pub admin: Option<String>,
    /// The network's id (a depin-core `NetworkId`): the domain oracles sign epoch roots in
    /// ([`crate::signing::root_statement_payload`]).
    pub network: String,
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
    /// Publish an epoch's root with the signatures of a threshold of the oracle set in
    /// effect (anyone may submit it). Each signature is the oracle's over
    /// [`crate::signing::root_statement_payload`] for this distributor, under
    /// `MessageKind::REWARD_ROOT` in the network's domain. While a set is in effect,
    /// [`ExecuteMsg::PublishRoot`] is refused.
    PublishQuorumRoot {
        /// The epoch.
        epoch: u64,
        /// The root, lowercase hex.
        merkle_root: String,
        /// The total (decimal).
        total_amount: String,
        /// The oracles' signatures (a signer listed twice counts once).
        signatures: Vec<OracleSignature>,
    },
    /// Schedule the oracle set that takes over at `effective_at` (admin only): at least
    /// [`ORACLE_SET_DELAY_SECONDS`] after the block time; a strict majority threshold
    /// (`2 * threshold > oracles`); replaces any set scheduled and not yet in effect.
    ScheduleOracleSet {
        /// The oracles' `did:key`s (1 to [`MAX_ORACLES`], distinct).
        oracles: Vec<String>,
        /// Signatures needed.
        threshold: u32,
        /// Unix seconds.
        effective_at: u64,
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

/// One oracle's signature in [`ExecuteMsg::PublishQuorumRoot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleSignature {
    /// The oracle's `did:key`.
    pub oracle: String,
    /// Its signature, lowercase hex (64 bytes).
    pub signature: String,
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
    /// The oracle set in effect and the one scheduled ([`OracleSetsResponse`]).
    OracleSets {},
}

/// An oracle set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleSetResponse {
    /// The oracles' `did:key`s, sorted.
    pub oracles: Vec<String>,
    /// Signatures needed.
    pub threshold: u32,
    /// When it takes (or took) effect, unix seconds.
    pub effective_at: u64,
}

/// Answer to [`QueryMsg::OracleSets`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleSetsResponse {
    /// The set in effect (`None`: the single oracle publishes).
    pub current: Option<OracleSetResponse>,
    /// A set scheduled to take over.
    pub scheduled: Option<OracleSetResponse>,
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
    /// The network id oracles sign in.
    pub network: String,
    /// Paid in all (decimal).
    pub total_paid: String,
}
