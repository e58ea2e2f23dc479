//! Claim Merkle trees: publish one root per epoch, let each account prove its amount.
//!
//! | module | verifier | leaf | inner node | domain separation |
//! |---|---|---|---|---|
//! | [`oz`] | OpenZeppelin `MerkleProof`, `@openzeppelin/merkle-tree` | `keccak(keccak(abi.encode(address, uint256)))` | keccak of the sorted pair | by input length (32 vs 64 bytes) |
//! | [`cw20`] | CosmWasm `cw20-merkle-airdrop` | `sha256(address ‖ amount)` | sha256 of the sorted pair | none (see module docs) |
//! | [`sdk`] | this crate | `sha256(0x00 ‖ len ‖ account ‖ amount)` | `sha256(0x01 ‖ left ‖ right)` | by prefix byte |
//!
//! All three reject duplicate accounts and empty trees. For cumulative claims feed them the
//! totals of a [`crate::CumulativeLedger`].

mod layers;
pub use layers::Layers;

pub mod cw20;
pub mod oz;
pub mod sdk;

/// A 32-byte hash (root, leaf, proof element).
pub type Hash = [u8; 32];
