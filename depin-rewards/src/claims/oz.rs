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

use crate::error::ensure_no_duplicates;
use crate::{Error, Result};

/// A 20-byte EVM address.
pub type Address = [u8; 20];
pub use super::Hash;

#[cfg(feature = "asm-keccak")]
use keccak_asm::Keccak256; // inherent one-shot `digest`, no trait needed
#[cfg(not(feature = "asm-keccak"))]
use sha3::{Digest, Keccak256};

/// keccak256 of `data` (the original Keccak padding Ethereum uses, not NIST SHA3-256).
///
/// With the `asm-keccak` feature (default) this is the CRYPTOGAMS assembly through
/// `keccak-asm`; without it, the portable RustCrypto `sha3`. Both give the same bytes, which a
/// property test checks.
///
/// ```
/// use depin_rewards::claims::oz::keccak256;
/// // the empty-input digest every Ethereum client knows
/// assert_eq!(
///     hex::encode(keccak256(b"")),
///     "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
/// );
/// ```
pub fn keccak256(data: &[u8]) -> Hash {
    Keccak256::digest(data).into()
}

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
    keccak256(&keccak256(&abi_encode(address, amount)))
}

/// What binds a claim tree to one distributor contract on one chain: the leaf then is
/// `keccak256(keccak256(abi.encode(uint256 chainId, address distributor, address account,
/// uint256 amount)))` (an OpenZeppelin `StandardMerkleTree` with leaf types
/// `["uint256", "address", "address", "uint256"]`), so a root published on one distributor
/// proves nothing on another distributor or chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OzBinding {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The distributor contract's address.
    pub distributor: Address,
}

/// `abi.encode(uint256 chainId, address distributor, address account, uint256 amount)`
/// (128 bytes).
pub fn abi_encode_bound(binding: &OzBinding, address: &Address, amount: u128) -> [u8; 128] {
    let mut buf = [0u8; 128];
    buf[24..32].copy_from_slice(&binding.chain_id.to_be_bytes());
    buf[44..64].copy_from_slice(&binding.distributor);
    buf[76..96].copy_from_slice(address);
    buf[112..128].copy_from_slice(&amount.to_be_bytes());
    buf
}

/// The leaf of a claim in a tree bound to `binding` (see [`OzBinding`]).
pub fn leaf_hash_bound(binding: &OzBinding, address: &Address, amount: u128) -> Hash {
    keccak256(&keccak256(&abi_encode_bound(binding, address, amount)))
}

/// Whether `proof` proves the claim `(address, amount)` under `root` in a tree bound to
/// `binding`.
pub fn verify_bound(
    root: &Hash,
    binding: &OzBinding,
    address: &Address,
    amount: u128,
    proof: &[Hash],
) -> bool {
    process_proof(&leaf_hash_bound(binding, address, amount), proof) == *root
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
    keccak256(&buf)
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
        Self::build(claims, None)
    }

    /// Builds a tree bound to one distributor on one chain (see [`OzBinding`]); the same
    /// errors as [`OzMerkleTree::new`].
    pub fn new_bound(binding: OzBinding, claims: Vec<(Address, u128)>) -> Result<Self> {
        Self::build(claims, Some(binding))
    }

    fn build(claims: Vec<(Address, u128)>, binding: Option<OzBinding>) -> Result<Self> {
        let n = claims.len();
        if n == 0 {
            return Err(Error::EmptyTree);
        }
        if n > (u32::MAX / 2) as usize {
            return Err(Error::TooManyClaims);
        }
        // The address index (duplicate check) and the leaf hashing are independent: run them
        // side by side so the sort's sequential partitioning overlaps with hashing.
        let (by_address, (mut nodes, order)) = par::join(
            || address_index(&claims),
            || sorted_leaves(&claims, binding.as_ref()),
        );
        let by_address = by_address?;
        let len = nodes.len();
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

/// `(prefix, input index)` of every claim sorted by address, or the duplicate found.
fn address_index(claims: &[(Address, u128)]) -> Result<Vec<(u64, u32)>> {
    // Sorting compact (prefix, index) keys and breaking prefix ties on the full address is
    // much cheaper than sorting the claims themselves.
    let address_of = |i: u32| claims.get(i as usize).map(|c| &c.0);
    let mut keys: Vec<(u64, u32)> = par::collect_indexed(claims.len(), |i| {
        (
            address_of(i as u32).map(|a| prefix(a)).unwrap_or_default(),
            i as u32,
        )
    });
    par::sort_unstable_by(&mut keys, |a, b| {
        a.0.cmp(&b.0)
            .then_with(|| address_of(a.1).cmp(&address_of(b.1)))
    });
    ensure_no_duplicates(&keys, |a, b| {
        a.0 == b.0 && address_of(a.1) == address_of(b.1)
    })?;
    Ok(keys)
}

/// The node array (`2n − 1` entries) with the leaves in place, and `(hash prefix, input index)`
/// keys sorted ascending by leaf hash.
///
/// The leaf hashes are first computed in input order into the inner-node region (`n − 1`
/// slots, overwritten later by [`build_internal`]) plus one spare, so no separate buffer is
/// allocated; then they are copied into the leaf region in OpenZeppelin order. Sorting the
/// 12-byte keys and breaking prefix ties on the full hash moves far less memory than sorting
/// the hashes. Equal hashes only come from equal claims, which [`address_index`] rejects, so
/// the order is fully determined.
fn sorted_leaves(
    claims: &[(Address, u128)],
    binding: Option<&OzBinding>,
) -> (Vec<Hash>, Vec<(u64, u32)>) {
    let n = claims.len();
    let leaf_of = |i: usize| {
        claims
            .get(i)
            .map(|(a, v)| match binding {
                None => leaf_hash(a, *v),
                Some(b) => leaf_hash_bound(b, a, *v),
            })
            .unwrap_or_default()
    };
    let mut nodes = par::collect_indexed(
        2 * n - 1,
        |j| {
            if j + 1 < n {
                leaf_of(j)
            } else {
                [0u8; 32]
            }
        },
    );
    let spare = leaf_of(n - 1);
    let (scratch, leaf_region) = nodes.split_at_mut(n - 1);
    let hash_of = |i: u32| scratch.get(i as usize).unwrap_or(&spare);
    let mut order = par::collect_indexed(n, |i| (prefix(hash_of(i as u32)), i as u32));
    par::sort_unstable_by(&mut order, |a, b| {
        a.0.cmp(&b.0).then_with(|| hash_of(a.1).cmp(hash_of(b.1)))
    });
    // tree position n − 1 + k holds the (n − 1 − k)-th smallest leaf
    par::fill(leaf_region, |k| {
        order
            .get(n - 1 - k)
            .map(|o| *hash_of(o.1))
            .unwrap_or_default()
    });
    (nodes, order)
}

/// The few data-parallel primitives tree building needs: rayon with the `parallel` feature,
/// plain loops without it.
mod par {
    use alloc::vec::Vec;
    use core::cmp::Ordering;

    /// Runs both closures, in parallel when possible.
    pub(super) fn join<A: Send, B: Send>(
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B + Send,
    ) -> (A, B) {
        #[cfg(feature = "parallel")]
        {
            rayon::join(a, b)
        }
        #[cfg(not(feature = "parallel"))]
        {
            (a(), b())
        }
    }

    /// `(0..len).map(f).collect()`, each element written once, straight into place.
    pub(super) fn collect_indexed<T: Send>(len: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            (0..len)
                .into_par_iter()
                .with_min_len(1024)
                .map(&f)
                .collect()
        }
        #[cfg(not(feature = "parallel"))]
        {
            (0..len).map(f).collect()
        }
    }

    /// `v[k] = f(k)` for every `k`; short slices stay on the calling thread.
    pub(super) fn fill<T: Send>(v: &mut [T], f: impl Fn(usize) -> T + Sync) {
        #[cfg(feature = "parallel")]
        if v.len() >= super::PAR_MIN_LEVEL {
            use rayon::prelude::*;
            v.par_iter_mut()
                .with_min_len(1024)
                .enumerate()
                .for_each(|(k, x)| *x = f(k));
            return;
        }
        v.iter_mut().enumerate().for_each(|(k, x)| *x = f(k));
    }

    /// Unstable sort by `cmp`.
    pub(super) fn sort_unstable_by<T: Send>(v: &mut [T], cmp: impl Fn(&T, &T) -> Ordering + Sync) {
        #[cfg(feature = "parallel")]
        {
            use rayon::slice::ParallelSliceMut;
            v.par_sort_unstable_by(cmp);
        }
        #[cfg(not(feature = "parallel"))]
        {
            v.sort_unstable_by(cmp);
        }
    }
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

fn hash_level(parents: &mut [Hash], children: &[Hash]) {
    par::fill(parents, |k| hash_pair_at(children, k));
}

#[cfg(all(test, feature = "asm-keccak"))]
mod tests {
    use proptest::prelude::*;
    use sha3::Digest as _;

    fn portable(data: &[u8]) -> super::Hash {
        sha3::Keccak256::digest(data).into()
    }

    proptest! {
        /// The assembly backend and the portable one agree on every length, across the
        /// 136-byte rate boundary.
        #[test]
        fn asm_matches_portable(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(super::keccak256(&data), portable(&data));
        }
    }
}
