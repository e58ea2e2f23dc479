//! CosmWasm `cw20-merkle-airdrop` claims (CosmWasm/cw-tokens,
//! `contracts/cw20-merkle-airdrop`).
//!
//! * leaf = `SHA-256(address ‖ amount)` over the UTF-8 string of the bech32 address followed
//!   by the amount in decimal (`format!("{}{}", sender, amount)` in the contract);
//! * inner node = `SHA-256(min(a, b) ‖ max(a, b))` (the contract sorts each pair);
//! * the tree is the one the contract's helper builds (`merkletreejs` with `sort: true`):
//!   leaves sorted bytewise, paired level by level, an odd last node promoted unchanged;
//! * root and proof elements travel as lowercase hex strings without `0x`.
//!
//! What this format cannot promise: leaves and inner nodes are hashed the same way with no
//! domain separation, and address and amount are concatenated without a separator. A leaf
//! preimage of exactly 64 bytes could in principle be read as two child hashes, and
//! `"…abc1" + "23"` reads the same as `"…abc" + "123"`. It stays safe in practice because the
//! contract recomputes the leaf from the *transaction sender's* address: an attacker must
//! control a valid bech32 address (fixed length, checksummed, lowercase alphanumerics)
//! whose string plus a decimal amount equals a pair of node hashes or another claimant's
//! string, which requires a SHA-256 preimage or a checksum-valid address of a different
//! length for the same prefix. Use [`crate::claims::sdk`] when you control the verifier.
//! Duplicate addresses are rejected ([`Error::DuplicateEntry`]).

use alloc::string::String;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use super::layers::Layers;
use super::Hash;
use crate::error::ensure_no_duplicates;
use crate::{Error, Result};

/// `SHA-256(address ‖ decimal amount)`.
///
/// ```
/// use depin_rewards::claims::cw20::leaf_hash;
/// assert_eq!(
///     hex::encode(leaf_hash("wasm1uy9ucvgerneekxpnfwyfnpxvlsx5dzdpf0mzjd", 1010)),
///     "b69c5239d434753af2f6c3eab47f4e78c436f862f14e6989be5c9027c2b6dfe2"
/// );
/// ```
pub fn leaf_hash(address: &str, amount: u128) -> Hash {
    let mut h = Sha256::new();
    h.update(address.as_bytes());
    h.update(alloc::format!("{amount}").as_bytes());
    h.finalize().into()
}

/// `SHA-256(sorted(a, b))`.
pub fn node_hash(a: &Hash, b: &Hash) -> Hash {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    let mut h = Sha256::new();
    h.update(x);
    h.update(y);
    h.finalize().into()
}

/// Folds a proof onto a leaf, as the contract's `claim` does.
pub fn process_proof(leaf: &Hash, proof: &[Hash]) -> Hash {
    proof.iter().fold(*leaf, |acc, p| node_hash(&acc, p))
}

/// Whether `proof` proves `(address, amount)` under `root`.
pub fn verify(root: &Hash, address: &str, amount: u128, proof: &[Hash]) -> bool {
    process_proof(&leaf_hash(address, amount), proof) == *root
}

/// [`verify`] with the root and proof as hex strings (as in the contract's messages).
///
/// ```
/// use depin_rewards::claims::cw20::verify_hex;
/// // the published vector of cw20-merkle-airdrop (testdata/airdrop_stage_1_test_data.json)
/// let ok = verify_hex(
///     "b45c1ea28b26adb13e412933c9e055b01fdf7585304b00cd8f1cb220aa6c5e88",
///     "wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq",
///     100,
///     &[
///         "a714186eaedddde26b08b9afda38cf62fdf88d68e3aa0d5a4b55033487fe14a1",
///         "fb57090a813128eeb953a4210dd64ee73d2632b8158231effe2f0a18b2d3b5dd",
///         "c30992d264c74c58b636a31098c6c27a5fc08b3f61b7eafe2a33dcb445822343",
///     ],
/// )
/// .unwrap();
/// assert!(ok);
/// ```
pub fn verify_hex<S: AsRef<str>>(
    root: &str,
    address: &str,
    amount: u128,
    proof: &[S],
) -> Result<bool> {
    let root = parse_hash(root)?;
    let proof = proof
        .iter()
        .map(|p| parse_hash(p.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    Ok(verify(&root, address, amount, &proof))
}

/// Parses a 32-byte lowercase or uppercase hex string (no `0x`).
pub fn parse_hash(s: &str) -> Result<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| Error::InvalidHex)?;
    Ok(out)
}

/// A `cw20-merkle-airdrop` claim tree.
///
/// ```
/// use depin_rewards::claims::cw20::{verify_hex, Cw20MerkleTree};
/// let claims = vec![("wasm1a".to_string(), 5u128), ("wasm1b".to_string(), 7)];
/// let tree = Cw20MerkleTree::new(claims).unwrap();
/// assert!(verify_hex(&tree.root_hex(), "wasm1b", 7, &tree.proof_hex(1).unwrap()).unwrap());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cw20MerkleTree {
    layers: Layers,
    /// input index → position among the sorted leaves
    positions: Vec<u32>,
    claims: Vec<(String, u128)>,
}

impl Cw20MerkleTree {
    /// Builds the tree from `(address, amount)` claims (order kept for [`proof`](Self::proof)).
    /// Errors on an empty list or a repeated address.
    pub fn new(claims: Vec<(String, u128)>) -> Result<Self> {
        let mut addrs: Vec<&str> = claims.iter().map(|c| c.0.as_str()).collect();
        addrs.sort_unstable();
        ensure_no_duplicates(&addrs, |a, b| a == b)?;
        let leaves: Vec<Hash> = claims.iter().map(|(a, v)| leaf_hash(a, *v)).collect();
        let (layers, positions) = build(leaves)?;
        Ok(Cw20MerkleTree {
            layers,
            positions,
            claims,
        })
    }

    /// Builds the tree from precomputed leaf hashes (e.g. to reproduce a published tree whose
    /// full account list is not at hand). [`proof`](Self::proof) then indexes `leaves`.
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> Result<Self> {
        let (layers, positions) = build(leaves)?;
        Ok(Cw20MerkleTree {
            layers,
            positions,
            claims: Vec::new(),
        })
    }

    /// The root.
    pub fn root(&self) -> Hash {
        self.layers.root()
    }

    /// The root as lowercase hex.
    pub fn root_hex(&self) -> String {
        hex::encode(self.root())
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Always `false`: a tree has at least one leaf.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The claim at input position `index` (trees built with [`new`](Self::new)).
    pub fn claim(&self, index: usize) -> Option<(&str, u128)> {
        self.claims.get(index).map(|(a, v)| (a.as_str(), *v))
    }

    /// Proof of the leaf at input position `index`.
    pub fn proof(&self, index: usize) -> Result<Vec<Hash>> {
        let pos = self.positions.get(index).ok_or(Error::IndexOutOfRange {
            index,
            len: self.len(),
        })?;
        Ok(self.layers.proof(*pos as usize))
    }

    /// [`proof`](Self::proof) as lowercase hex strings.
    pub fn proof_hex(&self, index: usize) -> Result<Vec<String>> {
        Ok(self.proof(index)?.iter().map(hex::encode).collect())
    }
}

fn build(leaves: Vec<Hash>) -> Result<(Layers, Vec<u32>)> {
    if leaves.is_empty() {
        return Err(Error::EmptyTree);
    }
    if leaves.len() > u32::MAX as usize {
        return Err(Error::TooManyClaims);
    }
    let mut order: Vec<(Hash, u32)> = leaves
        .into_iter()
        .enumerate()
        .map(|(i, h)| (h, i as u32))
        .collect();
    order.sort_unstable();
    ensure_no_duplicates(&order, |a, b| a.0 == b.0)?;
    let mut positions = alloc::vec![0u32; order.len()];
    for (pos, (_, orig)) in order.iter().enumerate() {
        if let Some(slot) = positions.get_mut(*orig as usize) {
            *slot = pos as u32;
        }
    }
    let sorted: Vec<Hash> = order.into_iter().map(|(h, _)| h).collect();
    Ok((Layers::build(sorted, node_hash), positions))
}
