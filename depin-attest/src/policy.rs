//! Policies: the rules a verified item must pass before it is accepted.
//!
//! A [`Policy`] is named and versioned, says which kinds it applies to and keeps whatever
//! per-device or per-epoch state it needs. The verifier runs the policies in the order they
//! were registered with the [`crate::VerifierBuilder`] (the built-in ones first, in the order
//! coverage, storage, energy, bandwidth; then the network's own, in the order added), after
//! decoding, registry, keys, signatures, freshness and the replay window, in two passes per
//! item:
//!
//! 1. [`Policy::check`] of every policy that applies, read-only, in order; the first
//!    rejection is the verdict;
//! 2. then [`Policy::apply`] of every policy that applies, in order, which records the item
//!    in the policy's state and may set the [`Outcome`]; the first rejection is the verdict
//!    and the later policies do not see the item.
//!
//! So a policy whose rule is read-only (physical bounds, a rate limit's count) rejects in
//! `check` and changes nothing; a policy that changes state in `apply` and cannot reject
//! there never records an item that another policy refused. The built-in policies decide
//! in `apply` (their state transitions depend on the decision, e.g. an energy counter's new
//! baseline); a network's policies placed after them see only items the built-ins accepted.
//!
//! A policy's rejection is a [`Rejection`]: one of the built-in reasons or its own
//! [`crate::reason::PolicyRejection`] (its name and a stable code), counted in epoch reports
//! and mapped to gossip verdicts like every other reason.

use std::any::Any;

use depin_core::{DeviceId, Epoch, Timestamp};
use serde::{Deserialize, Serialize};

use crate::kind::{AttestationKind, Label, Payload};
use crate::pipeline::Outcome;
use crate::reason::Rejection;
use crate::registry::DeviceRecord;

/// One verified item as policies see it: signature checked, fresh, not replayed.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// The signing device.
    pub device: &'a DeviceId,
    /// Its registry record.
    pub record: &'a DeviceRecord,
    /// The item's kind.
    pub kind: AttestationKind,
    /// Its sequence number.
    pub seq: u64,
    /// Its (signed) timestamp.
    pub timestamp: Timestamp,
    /// Processing time of the batch.
    pub now: Timestamp,
    /// The epoch of `now` (the report it is counted in).
    pub epoch: Epoch,
    /// The signing digest (unique per signed item: use it to identify items).
    pub digest: &'a [u8; 32],
    /// The decoded body (see [`Item::body`]).
    pub payload: &'a Payload,
    /// The report kind byte, for items that came in frames.
    pub frame_kind: Option<u8>,
}

impl<'a> Item<'a> {
    /// The decoded body as a `T`; [`Rejection::UnknownKind`] if it is not one (a policy
    /// registered for a kind whose decoder produces another type).
    pub fn body<T: Any>(&self) -> Result<&'a T, Rejection> {
        self.payload.get::<T>().ok_or(Rejection::UnknownKind)
    }
}

/// A rule items must pass. Object safe: the verifier holds `Box<dyn Policy>`; downcast with
/// [`crate::Verifier::policy`] to reach a policy's own methods and state.
pub trait Policy: Any + Send + Sync {
    /// Stable name (reports, audit logs, its rejections' codes).
    fn name(&self) -> Label;

    /// Version; change it whenever the rule or its parameters change.
    fn version(&self) -> u32;

    /// Whether the policy applies to `kind` (asked once per registered kind when the
    /// verifier is built).
    fn applies_to(&self, kind: AttestationKind) -> bool;

    /// Read-only check (pass 1). Default: accept.
    fn check(&self, item: &Item<'_>) -> Result<(), Rejection> {
        let _ = item;
        Ok(())
    }

    /// Record the item (pass 2), possibly rejecting it, possibly setting its outcome.
    /// Default: nothing.
    fn apply(&mut self, item: &Item<'_>, outcome: &mut Outcome) -> Result<(), Rejection> {
        let _ = (item, outcome);
        Ok(())
    }

    /// Called once per epoch, before the first item processed in an epoch later than every
    /// epoch seen so far (per-epoch state: counters, "one proof per epoch").
    fn begin_epoch(&mut self, epoch: Epoch) {
        let _ = epoch;
    }

    /// Bytes of memory the policy's state holds, if it keeps count (for
    /// [`crate::Verifier::memory`]). Default: `None`.
    fn memory_bytes(&self) -> Option<usize> {
        None
    }
}

use crate::bandwidth::BandwidthPolicy;
use crate::coverage::{CollusionRingPolicy, CoveragePolicy};
use crate::energy::EnergyPolicy;

/// Storage policy parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoragePolicy {
    /// Policy version.
    pub version: u32,
    /// Chunks challenged per proof (default 8; Filecoin Window PoSt uses 10 per sector).
    pub challenges: usize,
    /// Accept a commitment to a root that another device already committed (`false`).
    ///
    /// A storage proof shows that the prover can produce the challenged chunks of the
    /// committed data (proof of retrievability); it does not show that the prover keeps a
    /// copy of its own. Five devices that commit one root may be one copy served five
    /// times, so by default the second device's commitment is refused with
    /// [`crate::Rejection::SharedCommitment`]. Set this only if the network uses a
    /// replica-unique encoding (each prover seals the data with its own key, as Filecoin's
    /// proof of replication does), so equal roots cannot occur for distinct replicas.
    pub allow_shared_roots: bool,
    /// Most commitments one device may hold at once (default 64): beyond,
    /// [`crate::Rejection::TooManyCommitments`].
    pub max_commitments_per_device: usize,
    /// Largest size (`chunk_size * chunk_count`, bytes) one commitment may claim (default
    /// 1 TiB). The size is the prover's claim, not proven: see [`crate::storage`].
    pub max_commitment_bytes: u64,
}

impl StoragePolicy {
    /// The policy's name.
    pub const NAME: &'static str = "storage";
}

impl Default for StoragePolicy {
    fn default() -> Self {
        StoragePolicy {
            version: 2,
            challenges: 8,
            allow_shared_roots: false,
            max_commitments_per_device: 64,
            max_commitment_bytes: 1 << 40,
        }
    }
}

/// Add `item` to `items` unless it is already there, dropping the oldest beyond `cap`: the
/// bounded lists of network-issued values (beacon entropies, speed-test challenges).
pub(crate) fn push_capped<T: PartialEq>(
    items: &mut std::collections::VecDeque<T>,
    item: T,
    cap: usize,
) {
    if !items.contains(&item) {
        items.push_back(item);
    }
    while items.len() > cap {
        items.pop_front();
    }
}

/// The parameters of the built-in policies. Serializable, so a network can keep its
/// configuration in a file or on chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policies {
    /// Proof of coverage.
    pub coverage: CoveragePolicy,
    /// Collusion rings in the witness graph.
    pub collusion_ring: CollusionRingPolicy,
    /// Energy readings and charging sessions.
    pub energy: EnergyPolicy,
    /// Proof of storage.
    pub storage: StoragePolicy,
    /// Bandwidth tiers.
    pub bandwidth: BandwidthPolicy,
}

impl Policies {
    /// `(name, version)` of every policy, for reports and audit logs.
    pub fn versions(&self) -> [(&'static str, u32); 5] {
        [
            (CoveragePolicy::NAME, self.coverage.version),
            (CollusionRingPolicy::NAME, self.collusion_ring.version),
            (EnergyPolicy::NAME, self.energy.version),
            (StoragePolicy::NAME, self.storage.version),
            (BandwidthPolicy::NAME, self.bandwidth.version),
        ]
    }
}
