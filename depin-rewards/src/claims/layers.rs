//! Level-by-level Merkle tree where an odd last node is promoted unchanged (the shape of
//! `merkletreejs` without `duplicateOdd`, and of RFC 6962 / RFC 9162 trees).

use alloc::vec::Vec;

use super::Hash;

/// All levels, `levels[0]` being the leaves and the last level the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layers {
    levels: Vec<Vec<Hash>>,
}

impl Layers {
    /// Builds the levels; `leaves` must be non-empty.
    pub(crate) fn build(leaves: Vec<Hash>, combine: impl Fn(&Hash, &Hash) -> Hash) -> Self {
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

    pub(crate) fn root(&self) -> Hash {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn leaves(&self) -> &[Hash] {
        self.levels.first().map_or(&[], |l| l.as_slice())
    }

    /// Siblings from the leaf at `position` up, skipping levels where the node has none.
    pub(crate) fn proof(&self, mut position: usize) -> Vec<Hash> {
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
