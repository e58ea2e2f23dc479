//! The CosmWasm messages: the types of [`depin_cosmwasm_msgs`], which the contracts in
//! `contracts/cosmwasm/` deserialize and this backend serializes (one definition, not JSON
//! written twice).
//!
//! - [`registry`]: the device registry (`register`, `onboard`, `revoke`, makers, admin).
//! - [`distributor`]: the cumulative distributor (`publish_root`, `claim`, queries).
//! - [`signing`]: the bytes devices and makers sign for the registry.
//! - [`error`]: the codes every contract error starts with (`[depin:<code>]`), which
//!   this backend turns into [`crate::Error`] variants.

pub use depin_cosmwasm_msgs::{distributor, error, registry, signing};
