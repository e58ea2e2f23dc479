//! OpenZeppelin `StandardMerkleTree` for `(address, uint256)` claims, byte-compatible with the
//! `@openzeppelin/merkle-tree` npm package (v1) and verifiable with OpenZeppelin's
//! `MerkleProof.verify` in Solidity.
//!
//! * leaf = `keccak256(keccak256(abi.encode(address, uint256)))` (64-byte ABI encoding);
//! * inner node = `keccak256(min(a, b) ‖ max(a, b))` (sorted pair, "commutative keccak");
//! * layout: leaves sorted ascending by hash, stored **in reverse** at the end of an array of
//!   `2n − 1` nodes (`tree[2n − 2 − i]` is the `i`-th smallest leaf), node `i` has children
//!   `2i + 1` and `2i + 2`, `tree[0]` is the root. This is `makeMerkleTree` of the package
//!   with the default `sortLeaves: true`;
//! * a proof lists the sibling at each level from the leaf up (`getProof`).
//!
//! Roots and proofs are therefore identical to the package's on the same set of claims, in
//! any input order. Duplicate addresses are rejected ([`Error::DuplicateEntry`]); the package
//! would accept them, but two leaves for one account make the second claim ambiguous.
//!
//! With the `parallel` feature, leaf hashing, sorting and each tree level run on all cores
//! (rayon).
//!
//! Second preimages: an inner node is the hash of 64 bytes, a leaf the hash of a 32-byte
//! hash. For a leaf to pass as an inner node (or the reverse) an attacker would need
//! `keccak256(x) == keccak256(a ‖ b)` with `x` 32 bytes and `a ‖ b` 64 bytes, i.e. a keccak256
//! collision; the double hashing is exactly what rules out presenting the 64-byte
//! `abi.encode(address, amount)` of a forged leaf as a pair of child nodes.

use alloc::vec;
use alloc::vec::Vec;

use sha3::{Digest, Keccak256};

use crate::{Error, Result};

/// A 20-byte EVM address.
pub type Address = [u8; 20];
pub use super::Hash;

/// `abi.encode(address, uint256)` of a claim (64 bytes, amount big-endian).
pub fn abi_encode(address: &Address, amount: u128) -> [u8; 64] {
    let mut buf = [0u8; 64];
    buf[12..32].copy_from_slice(address);
    buf[48..64].copy_from_slice(&amount.to_be_bytes());
    buf
}

/// `keccak256(keccak256(abi.encode(address, amount)))`: the leaf of a claim.
///
/// ```
/// use depin_rewards::claims::oz::leaf_hash;
/// let leaf = leaf_hash(&[0x11; 20], 1_000);
/// assert_eq!(leaf.len(), 32);
/// ```
pub fn leaf_hash(address: &Address, amount: u128) -> Hash {
    let inner: Hash = Keccak256::digest(abi_encode(address, amount)).into();
    Keccak256::digest(inner).into()
}

/// `keccak256(sorted(a, b))`: OpenZeppelin's commutative pair hash.
pub fn node_hash(a: &Hash, b: &Hash) -> Hash {
    let mut buf = [0u8; 64];
    if a <= b {
        buf[..32].copy_from_slice(a);
        buf[32..].copy_from_slice(b);
    } else {
        buf[..32].copy_from_slice(b);
        buf[32..].copy_from_slice(a);
    }
    Keccak256::digest(buf).into()
}

/// Folds a proof onto a leaf (OpenZeppelin `processProof`).
pub fn process_proof(leaf: &Hash, proof: &[Hash]) -> Hash {
    proof.iter().fold(*leaf, |acc, p| node_hash(&acc, p))
}

/// Whether `proof` proves the claim `(address, amount)` under `root`
/// (`StandardMerkleTree.verify` / `MerkleProof.verify`).
pub fn verify(root: &Hash, address: &Address, amount: u128, proof: &[Hash]) -> bool {
    process_proof(&leaf_hash(address, amount), proof) == *root
}

/// An OpenZeppelin-compatible claim tree over `(address, amount)` claims.
///
/// ```
/// use depin_rewards::claims::oz::{verify, OzMerkleTree};
/// let claims = vec![([0x11; 20], 100u128), ([0x22; 20], 200), ([0x33; 20], 300)];
/// let tree = OzMerkleTree::new(claims.clone()).unwrap();
/// for (i, (addr, amount)) in claims.iter().enumerate() {
///     assert!(verify(&tree.root(), addr, *amount, &tree.proof(i).unwrap()));
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OzMerkleTree {
    nodes: Vec<Hash>,
    tree_index: Vec<u32>,
    claims: Vec<(Address, u128)>,
    /// `(first 8 address bytes, input index)`, sorted by full address
    by_address: Vec<(u64, u32)>,
}

/// Levels with fewer nodes than this are hashed on one thread.
#[cfg(feature = "parallel")]
const PAR_MIN_LEVEL: usize = 2048;

fn prefix(bytes: &[u8]) -> u64 {
    let mut p = [0u8; 8];
    if let Some(src) = bytes.get(..8) {
        p.copy_from_slice(src);
    }
    u64::from_be_bytes(p)
}

impl OzMerkleTree {
    /// Builds the tree. `claims` keep their order for [`proof`](Self::proof) and
    /// [`claim`](Self::claim); the tree itself does not depend on it.
    ///
    /// Errors: [`Error::EmptyTree`], [`Error::DuplicateEntry`] (same address twice),
    /// [`Error::TooManyClaims`] (more than `2^31 − 1`).
    pub fn new(claims: Vec<(Address, u128)>) -> Result<Self> {
        let n = claims.len();
        if n == 0 {
            return Err(Error::EmptyTree);
        }
        if n > (u32::MAX / 2) as usize {
            return Err(Error::TooManyClaims);
        }
        // Sorting compact (prefix, index) keys and breaking prefix ties on the full value is
        // much cheaper than sorting the values themselves.
        let address_of = |i: u32| claims.get(i as usize).map(|c| &c.0);
        let mut by_address: Vec<(u64, u32)> = claims
            .iter()
            .enumerate()
            .map(|(i, c)| (prefix(&c.0), i as u32))
            .collect();
        sort_keys(&mut by_address, |a, b| address_of(a).cmp(&address_of(b)));
        if let Some(i) = by_address
            .windows(2)
            .position(|w| w[0].0 == w[1].0 && address_of(w[0].1) == address_of(w[1].1))
        {
            return Err(Error::DuplicateEntry { index: i + 1 });
        }

        let hashes: Vec<Hash> = hash_leaves(&claims);
        let hash_of = |i: u32| hashes.get(i as usize);
        let mut order: Vec<(u64, u32)> = hashes
            .iter()
            .enumerate()
            .map(|(i, h)| (prefix(h), i as u32))
            .collect();
        sort_keys(&mut order, |a, b| hash_of(a).cmp(&hash_of(b)));

        // the i-th smallest leaf goes to position len − 1 − i
        let len = 2 * n - 1;
        let mut nodes: Vec<Hash> = vec![[0u8; 32]; len];
        if let Some(leaf_region) = nodes.get_mut(n - 1..) {
            place_leaves(leaf_region, &order, &hashes);
        }
        drop(hashes);
        let mut tree_index = vec![0u32; n];
        for (i, (_, orig)) in order.iter().enumerate() {
            if let Some(slot) = tree_index.get_mut(*orig as usize) {
                *slot = (len - 1 - i) as u32;
            }
        }
        drop(order);
        build_internal(&mut nodes, n);
        Ok(OzMerkleTree {
            nodes,
            tree_index,
            claims,
            by_address,
        })
    }

    /// The root (`tree[0]`).
    pub fn root(&self) -> Hash {
        self.nodes.first().copied().unwrap_or_default()
    }

    /// Number of claims.
    pub fn len(&self) -> usize {
        self.claims.len()
    }

    /// Always `false`: a tree has at least one claim.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }

    /// The claim at input position `index`.
    pub fn claim(&self, index: usize) -> Option<(Address, u128)> {
        self.claims.get(index).copied()
    }

    /// Input position of the claim of `address`.
    pub fn index_of(&self, address: &Address) -> Option<usize> {
        let key = (prefix(address), address);
        self.by_address
            .binary_search_by(|e| {
                let full = self.claims.get(e.1 as usize).map(|c| &c.0);
                (e.0, full).cmp(&(key.0, Some(key.1)))
            })
            .ok()
            .and_then(|i| self.by_address.get(i))
            .map(|e| e.1 as usize)
    }

    /// Position of the claim's leaf in the OpenZeppelin node array ("treeIndex").
    pub fn tree_index(&self, index: usize) -> Option<usize> {
        self.tree_index.get(index).map(|&t| t as usize)
    }

    /// The whole node array, `nodes()[0]` being the root (the package's `dump().tree`).
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Proof for the claim at input position `index`: siblings from the leaf up.
    pub fn proof(&self, index: usize) -> Result<Vec<Hash>> {
        let mut i = self.tree_index(index).ok_or(Error::IndexOutOfRange {
            index,
            len: self.len(),
        })?;
        let mut proof =
            Vec::with_capacity(usize::BITS as usize - self.len().leading_zeros() as usize + 1);
        while i > 0 {
            let sibling = if i % 2 == 1 { i + 1 } else { i - 1 };
            if let Some(h) = self.nodes.get(sibling) {
                proof.push(*h);
            }
            i = (i - 1) / 2;
        }
        Ok(proof)
    }
}

#[cfg(feature = "parallel")]
fn hash_leaves(claims: &[(Address, u128)]) -> Vec<Hash> {
    use rayon::prelude::*;
    claims.par_iter().map(|(a, v)| leaf_hash(a, *v)).collect()
}

#[cfg(not(feature = "parallel"))]
fn hash_leaves(claims: &[(Address, u128)]) -> Vec<Hash> {
    claims.iter().map(|(a, v)| leaf_hash(a, *v)).collect()
}

/// Sorts `(prefix, index)` keys by prefix, then by `tie` on the indices.
#[cfg(feature = "parallel")]
fn sort_keys(keys: &mut [(u64, u32)], tie: impl Fn(u32, u32) -> core::cmp::Ordering + Sync) {
    use rayon::slice::ParallelSliceMut;
    keys.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| tie(a.1, b.1)));
}

#[cfg(not(feature = "parallel"))]
fn sort_keys(keys: &mut [(u64, u32)], tie: impl Fn(u32, u32) -> core::cmp::Ordering) {
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| tie(a.1, b.1)));
}

/// `region[j]` (tree position `n − 1 + j`) receives the `(n − 1 − j)`-th smallest leaf.
#[cfg(feature = "parallel")]
fn place_leaves(region: &mut [Hash], order: &[(u64, u32)], hashes: &[Hash]) {
    use rayon::prelude::*;
    let n = order.len();
    region.par_iter_mut().enumerate().for_each(|(j, slot)| {
        if let Some(h) = order.get(n - 1 - j).and_then(|o| hashes.get(o.1 as usize)) {
            *slot = *h;
        }
    });
}

#[cfg(not(feature = "parallel"))]
fn place_leaves(region: &mut [Hash], order: &[(u64, u32)], hashes: &[Hash]) {
    let n = order.len();
    region.iter_mut().enumerate().for_each(|(j, slot)| {
        if let Some(h) = order.get(n - 1 - j).and_then(|o| hashes.get(o.1 as usize)) {
            *slot = *h;
        }
    });
}

/// Fills internal nodes `0..=n−2` of an OpenZeppelin node array whose leaves are in place,
/// one depth at a time (all children of depth `d` are at depth `d + 1`, so each depth is
/// independent work).
fn build_internal(nodes: &mut [Hash], n: usize) {
    if n < 2 {
        return;
    }
    let last_internal = n - 2;
    // depth of the deepest internal node
    let max_depth = usize::BITS - 1 - (last_internal + 1).leading_zeros();
    for depth in (0..=max_depth).rev() {
        let lo = (1usize << depth) - 1;
        let hi = ((1usize << (depth + 1)) - 2).min(last_internal);
        let (parents_all, children_all) = nodes.split_at_mut(hi + 1);
        let Some(parents) = parents_all.get_mut(lo..) else {
            continue;
        };
        let child_base = 2 * lo + 1 - (hi + 1);
        let Some(children) = children_all.get(child_base..) else {
            continue;
        };
        hash_level(parents, children);
    }
}

fn hash_pair_at(children: &[Hash], k: usize) -> Hash {
    match (children.get(2 * k), children.get(2 * k + 1)) {
        (Some(a), Some(b)) => node_hash(a, b),
        _ => [0u8; 32],
    }
}

#[cfg(feature = "parallel")]
fn hash_level(parents: &mut [Hash], children: &[Hash]) {
    use rayon::prelude::*;
    if parents.len() < PAR_MIN_LEVEL {
        parents
            .iter_mut()
            .enumerate()
            .for_each(|(k, p)| *p = hash_pair_at(children, k));
    } else {
        parents
            .par_iter_mut()
            .with_min_len(1024)
            .enumerate()
            .for_each(|(k, p)| *p = hash_pair_at(children, k));
    }
}

#[cfg(not(feature = "parallel"))]
fn hash_level(parents: &mut [Hash], children: &[Hash]) {
    parents
        .iter_mut()
        .enumerate()
        .for_each(|(k, p)| *p = hash_pair_at(children, k));
}
