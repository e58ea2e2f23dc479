//! The SDK's own claim tree: domain-separated, positional, RFC 6962 shaped.
//!
//! * leaf = `SHA-256(0x00 ‖ len(account) as u16 BE ‖ account ‖ amount as u128 BE)`;
//! * inner node = `SHA-256(0x01 ‖ left ‖ right)` (position matters, no sorting);
//! * shape: claims sorted by account bytes, then the RFC 6962 / RFC 9162 Merkle Tree Hash
//!   (largest power of two on the left, an odd last node promoted unchanged);
//! * proof = leaf index, tree size and audit path, verified with the RFC 9162 §2.1.3.2
//!   algorithm.
//!
//! Because every leaf preimage starts with `0x00` and every inner-node preimage with `0x01`, no
//! leaf can ever be confused with an inner node (nor the reverse) without a SHA-256
//! collision, whatever the account bytes are. The length prefix makes the
//! `(account, amount)` encoding injective, so two different claims never share a leaf.
//! Accounts are opaque bytes (an EVM address, a bech32 string, a public key) of at most
//! 65 535 bytes; duplicates are rejected.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use super::layers::Layers;
use super::Hash;
use crate::error::ensure_no_duplicates;
use crate::{Error, Result};

/// Prefix of leaf preimages.
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of inner-node preimages.
pub const NODE_PREFIX: u8 = 0x01;

/// The leaf of a claim.
pub fn leaf_hash(account: &[u8], amount: u128) -> Result<Hash> {
    let len = u16::try_from(account.len())
        .map_err(|_| Error::InvalidParameter("account longer than 65535 bytes"))?;
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(len.to_be_bytes());
    h.update(account);
    h.update(amount.to_be_bytes());
    Ok(h.finalize().into())
}

/// An inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// An inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SdkProof {
    /// Position of the leaf among the claims sorted by account.
    pub index: u64,
    /// Number of claims in the tree.
    pub size: u64,
    /// Audit path, leaf level first.
    pub path: Vec<Hash>,
}

/// Verifies a proof for `(account, amount)` against `root` (RFC 9162 §2.1.3.2).
///
/// ```
/// use depin_rewards::claims::sdk::{verify, SdkMerkleTree};
/// let tree = SdkMerkleTree::new(vec![(b"alice".to_vec(), 10), (b"bob".to_vec(), 20), (b"carol".to_vec(), 30)]).unwrap();
/// let proof = tree.proof(1).unwrap();
/// assert!(verify(&tree.root(), b"bob", 20, &proof));
/// assert!(!verify(&tree.root(), b"bob", 21, &proof));
/// ```
pub fn verify(root: &Hash, account: &[u8], amount: u128, proof: &SdkProof) -> bool {
    let Ok(leaf) = leaf_hash(account, amount) else {
        return false;
    };
    if proof.index >= proof.size {
        return false;
    }
    let mut fnode = proof.index;
    let mut snode = proof.size - 1;
    let mut r = leaf;
    for p in &proof.path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// The SDK's claim tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkMerkleTree {
    layers: Layers,
    /// input index → leaf position (rank of the account)
    positions: Vec<u64>,
    claims: Vec<(Vec<u8>, u128)>,
}

impl SdkMerkleTree {
    /// Builds the tree; errors on no claims, a repeated account or an account above 65 535
    /// bytes.
    pub fn new(claims: Vec<(Vec<u8>, u128)>) -> Result<Self> {
        if claims.is_empty() {
            return Err(Error::EmptyTree);
        }
        let mut order: Vec<usize> = (0..claims.len()).collect();
        order.sort_unstable_by(|&a, &b| claims[a].0.cmp(&claims[b].0));
        ensure_no_duplicates(&order, |&a, &b| claims[a].0 == claims[b].0)?;
        let mut positions = alloc::vec![0u64; claims.len()];
        let mut leaves = Vec::with_capacity(claims.len());
        for (pos, &orig) in order.iter().enumerate() {
            let (account, amount) = &claims[orig];
            leaves.push(leaf_hash(account, *amount)?);
            positions[orig] = pos as u64;
        }
        Ok(SdkMerkleTree {
            layers: Layers::build(leaves, node_hash),
            positions,
            claims,
        })
    }

    /// The root.
    pub fn root(&self) -> Hash {
        self.layers.root()
    }

    /// Number of claims.
    pub fn len(&self) -> usize {
        self.claims.len()
    }

    /// Always `false`: a tree has at least one claim.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }

    /// The leaves in tree order.
    pub fn leaves(&self) -> &[Hash] {
        self.layers.leaves()
    }

    /// Proof of the claim at input position `index`.
    pub fn proof(&self, index: usize) -> Result<SdkProof> {
        let pos = *self.positions.get(index).ok_or(Error::IndexOutOfRange {
            index,
            len: self.len(),
        })?;
        Ok(SdkProof {
            index: pos,
            size: self.len() as u64,
            path: self.layers.proof(pos as usize),
        })
    }
}
