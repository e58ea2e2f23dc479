//! The messages of the depin-rs CosmWasm contracts, shared by the contracts and the
//! `depin-chains` Cosmos backend, and the bytes their signers sign.
//!
//! - [`registry`]: the device registry (devices register with their own signature, verified by
//!   the contract; makers onboard devices; revocation; two-step admin handover).
//! - [`distributor`]: the cumulative reward distributor (the oracle publishes one root per
//!   epoch; accounts claim their cumulative amount in cw20 tokens with a Merkle proof in the
//!   `cw20-merkle-airdrop` leaf format that `depin-rewards` builds).
//! - [`error`]: the codes every contract error starts with.
//! - [`signing`]: the registry's signing domain and the exact registration and onboarding
//!   payloads, as the contract rebuilds them from a message and the chain.
//!
//! Messages are JSON with `snake_case` names, as CosmWasm contracts conventionally take
//! them. Amounts are decimal strings (the JSON form of CosmWasm's `Uint128`), hashes,
//! roots and signatures lowercase hex, devices and makers `did:key` strings, accounts
//! bech32 strings.
//!
//! ```
//! use depin_cosmwasm_msgs::distributor::ExecuteMsg;
//! let m = ExecuteMsg::PublishRoot { epoch: 300, merkle_root: "ab".repeat(32), total_amount: "1350".into() };
//! let json = serde_json::to_string(&m).unwrap();
//! assert!(json.starts_with(r#"{"publish_root":{"epoch":300,"#));
//! ```
#![no_std]

extern crate alloc;

pub mod distributor;
pub mod error;
pub mod registry;
pub mod signing;
