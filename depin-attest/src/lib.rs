#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bandwidth;
pub mod coverage;
pub mod deny;
pub mod energy;
pub mod envelope;
mod error;
#[cfg(feature = "p2p")]
pub mod gossip;
pub mod pipeline;
pub mod policy;
pub mod reason;
pub mod registry;
pub mod replay;
pub mod storage;
pub mod types;

#[cfg(feature = "p2p")]
pub mod p2p;

pub use bandwidth::{BandwidthChallenge, BandwidthPolicy, SpeedTier};
pub use coverage::{CollusionRingPolicy, CoverageOutcome, CoveragePolicy, RingAction};
pub use deny::DenyList;
pub use energy::{DaylightProfile, EnergyPolicy};
pub use envelope::{Envelope, EnvelopeBody};
pub use error::{Error, Result};
pub use pipeline::{Accepted, Counters, Input, Outcome, Verdict, Verifier, VerifierConfig};
pub use policy::{Policies, StoragePolicy};
pub use reason::{EpochReport, Rejection};
pub use registry::{DeviceRecord, DeviceStatus, KindSet, MemoryRegistry, Registry};
pub use replay::{FileReplayStore, MemoryReplayStore, ReplayStore, ReplayWindow};
pub use types::{Attestation, AttestationKind};
