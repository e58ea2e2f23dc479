//! Level-by-level Merkle tree where an odd last node is promoted unchanged (the shape of
//! `merkletreejs` without `duplicateOdd`, and of RFC 6962 / RFC 9162 trees). The one tree
//! builder of the workspace: the claim trees here, and depin-attest's storage-proof trees
//! (positional, padded to a power of two) through [`Layers`].

use alloc::vec::Vec;

use super::Hash;

/// A Merkle tree kept level by level: the leaves first, the root last. How two nodes combine
/// is the caller's (sorted-pair hashing for claim trees, left-right hashing for positional
/// trees); an odd last node is promoted unchanged, so a tree padded to a power of two is a
/// complete binary tree.
///
/// ```
/// use depin_rewards::claims::Layers;
/// let leaves = vec![[1u8; 32], [2u8; 32], [3u8; 32]];
/// let xor = |a: &[u8; 32], b: &[u8; 32]| core::array::from_fn(|i| a[i] ^ b[i]);
/// let t = Layers::build(leaves, xor);
/// assert_eq!(t.root(), [0u8; 32]); // (1 ^ 2) ^ 3
/// assert_eq!(t.proof(0), vec![[2u8; 32], [3u8; 32]]);
/// assert_eq!(t.proof(2), vec![[3u8; 32]]); // promoted: no sibling on the first level
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layers {
    levels: Vec<Vec<Hash>>,
}

impl Layers {
    /// Builds the levels with `combine(left, right)`; an empty `leaves` gives a tree whose
    /// root is all zero.
    pub fn build(leaves: Vec<Hash>, combine: impl Fn(&Hash, &Hash) -> Hash) -> Self {
        let mut levels = Vec::new();
        let mut current = leaves;
        while current.len() > 1 {
            let next: Vec<Hash> = current
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => combine(a, b),
                    [a] => *a,
                    _ => [0u8; 32],
                })
                .collect();
            levels.push(current);
            current = next;
        }
        levels.push(current);
        Layers { levels }
    }

    /// The root (all zero for no leaves).
    pub fn root(&self) -> Hash {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// The leaves, in order.
    pub fn leaves(&self) -> &[Hash] {
        self.levels.first().map_or(&[], |l| l.as_slice())
    }

    /// Siblings from the leaf at `position` up, skipping levels where the node has none
    /// (empty for a position past the leaves' end).
    pub fn proof(&self, mut position: usize) -> Vec<Hash> {
        let mut proof = Vec::new();
        for level in &self.levels[..self.levels.len().saturating_sub(1)] {
            if let Some(h) = level.get(position ^ 1) {
                proof.push(*h);
            }
            position /= 2;
        }
        proof
    }
}
