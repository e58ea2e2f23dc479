#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bandwidth;
pub mod coverage;
pub mod deny;
pub mod energy;
pub mod envelope;
mod error;
#[cfg(feature = "hardware")]
pub mod evidence;
#[cfg(feature = "p2p")]
pub mod gossip;
#[cfg(feature = "ingest")]
pub mod ingest;
pub mod kind;
pub mod pipeline;
pub mod policy;
pub mod reason;
pub mod registry;
pub mod replay;
pub mod storage;
#[cfg(feature = "store")]
pub mod store;
mod table;
pub mod types;

#[cfg(feature = "p2p")]
pub mod p2p;

/// The hash maps of per-device state: foldhash with a random per-map seed (keys are public
/// keys and digests, chosen by devices, so the seed matters; SipHash costs a third of the
/// pipeline's own time at network scale).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// The hash sets of per-device state (see [`FastMap`]).
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

pub use bandwidth::{BandwidthChallenge, BandwidthPolicy, BandwidthRules, SpeedTier};
pub use coverage::{
    CollusionRingPolicy, CoverageOutcome, CoveragePolicy, CoverageRules, RingAction,
};
pub use deny::{DenyList, DenyState};
pub use energy::{DaylightProfile, EnergyPolicy, EnergyRules};
pub use envelope::{Envelope, EnvelopeBody};
pub use error::{Error, Result};
pub use kind::{AttestationKind, AttestationType, Kind, KindSet, Label, Payload, Typed};
pub use pipeline::{
    builtin_kinds, builtin_policies, Accepted, Counters, Input, ItemInfo, KindInfo, MemoryUse,
    Outcome, Verdict, Verifier, VerifierBuilder, VerifierConfig,
};
pub use policy::{Item, Policies, Policy, StoragePolicy};
pub use reason::{EpochReport, PolicyRejection, Rejection};
pub use registry::{DeviceRecord, DeviceStatus, Lookup, MemoryRegistry, Registry};
pub use replay::{FileReplayStore, MemoryReplayStore, ReplayStore, ReplayWindow};
pub use storage::StorageRules;
