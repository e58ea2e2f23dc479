#![doc = include_str!("../README.md")]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod address;
#[cfg(feature = "batch")]
pub mod batch;
pub mod did;
pub mod domain;
#[cfg(feature = "serde")]
pub mod encoding;
pub mod error;
#[cfg(feature = "alloc")]
pub mod evidence;
pub mod frame;
pub mod keys;
pub mod time;
pub mod trust;

#[cfg(feature = "alloc")]
pub use address::cosmos_address;
pub use address::{cosmos_account_id, parse_cosmos_address, EvmAddress};
pub use did::{DeviceId, KeyHint};
pub use domain::{Domain, MessageKind, NetworkId};
pub use error::{Error, Result};
pub use keys::{KeyType, PublicKey, Signature, SigningKey, SIGNATURE_LEN};
pub use time::{Epoch, EpochSchedule, Timestamp};
pub use trust::TrustLevel;

/// The RNG traits accepted by [`SigningKey::generate`].
pub use rand_core;
/// Re-exports of the RustCrypto traits the key types implement.
pub use signature;
