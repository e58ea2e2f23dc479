//! The set of named, parameterised, versioned policies a network configures.

use serde::{Deserialize, Serialize};

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

/// Every policy the pipeline applies. Serializable, so a network can keep its
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
