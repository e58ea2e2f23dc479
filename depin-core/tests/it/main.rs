//! Integration tests for depin-core.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_range_loop
)]

mod batch;
mod did;
mod domain;
mod encoding;
mod frame;
mod malleability;
mod props;
mod small_order;
mod time;
mod vectors;

use depin_core::{KeyType, SigningKey};

/// A deterministic test key of each type.
pub fn test_key(key_type: KeyType, seed: u8) -> SigningKey {
    SigningKey::from_secret_bytes(key_type, &[seed.max(1); 32]).unwrap()
}
