#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backend;
pub mod claims;
pub mod config;
pub mod error;
pub mod makers;
pub mod quorum;
pub mod retry;
pub mod types;

#[cfg(feature = "local")]
pub mod local;

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod rules;

#[cfg(feature = "evm")]
pub mod evm;

#[cfg(feature = "cosmos")]
pub mod cosmos;

#[cfg(feature = "attest")]
pub mod follow;

#[cfg(feature = "oracle")]
pub mod oracle;

pub use backend::{ChainBackend, ChainHandle, DistributorBackend, RegistryBackend};

/// The chain traits, to call them on a concrete backend type (`LocalBackend`, `EvmBackend`,
/// ...): `use depin_chains::prelude::*;`.
pub mod prelude {
    pub use crate::backend::{ChainBackend, ChainHandle, DistributorBackend, RegistryBackend};
}
pub use claims::{verify_claim, ClaimTree};
pub use config::{
    connect, BackendConfig, ConnectFuture, CosmosConfig, CustomConfig, EvmConfig, LocalConfig,
    SecretKeyBytes,
};
pub use error::{Error, Result};
#[cfg(feature = "attest")]
pub use follow::ChainRegistry;
pub use retry::{retry, RetryPolicy};
pub use types::{
    device_id_hash, Account, BackendKind, Claim, ClaimFormat, DeviceRegistration, DeviceSigner,
    Eip712Binding, EpochRoot, PublishOutcome, Receipt, RegisteredDevice, RegistrationChallenge,
    RegistrationProof, TxHandle, TxStatus,
};

/// Re-exported so implementors can write `#[depin_chains::async_trait]`.
pub use async_trait::async_trait;
