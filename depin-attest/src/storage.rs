//! Proof of storage: Merkle commitments over fixed-size chunks and per-epoch challenges
//! derived Filecoin-PoSt style.
//!
//! # Exact bytes
//!
//! ```text
//! chunk_i   = data[i*size .. (i+1)*size], the last chunk zero-padded to `size`
//! leaf_i    = SHA-256(0x00 || P (DeviceId binary form) || i as u64 little-endian || chunk_i)
//! inner     = SHA-256(0x01 || left || right)
//! padding   = 32 zero bytes, for leaf positions chunk_count .. 2^depth
//! depth     = ceil(log2(chunk_count))  (0 for one chunk: the root is leaf_0)
//! path      = sibling hashes from the leaf level up (depth entries); bit k of the
//!             index says whether the node at level k is a right child (1) or left (0)
//!
//! challenge index j (j = 0, 1, ..., n-1) for prover P and commitment root T in an epoch
//! with randomness R:
//!   h_j   = SHA-256(R (32 bytes) || P (DeviceId binary form: key type tag || key bytes)
//!                   || T (32 bytes) || j as u64 little-endian (8 bytes))
//!   idx_j = u64::from_le_bytes(h_j[0..8]) mod chunk_count
//! ```
//!
//! The prefixes keep leaves and inner nodes apart (no second-preimage trick that passes
//! an inner node off as a chunk), and a padding node is a hash preimage nobody knows.
//!
//! Every leaf binds the prover and its position. So a root is valid for one device only (a
//! device that copies another's root cannot prove it, and cannot claim it first to lock the
//! owner out), and a tree of `chunk_count` leaves costs `chunk_count` leaf hashes to build
//! even when every chunk is equal: the "2^40 identical chunks in 41 hashes" tree does not
//! exist. What a proof shows, and what it does not: the prover could produce the
//! challenged chunks and their paths of the tree it committed to (proof of retrievability
//! of that tree). It does not show that the data is anyone's real data, that it is
//! incompressible, or how large it is: the committed size is the prover's claim, which a
//! network should take from a client-signed deal and bound by
//! [`crate::policy::StoragePolicy`] (`max_commitment_bytes`, `max_commitments_per_device`).

use std::sync::Arc;

use depin_core::{DeviceId, Epoch};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::kind::{AttestationKind, Label};
use crate::pipeline::Outcome;
use crate::policy::{Item, Policy, StoragePolicy};
use crate::reason::Rejection;
use crate::types::{ChunkProof, StorageCommitment, StorageProof, MAX_CHUNK_COUNT, MAX_CHUNK_SIZE};

/// Prefix of leaf hashes.
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of inner-node hashes.
pub const INNER_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 || prover || index (u64 LE) || chunk)`: the leaf of chunk `index` in the
/// tree of `prover`.
pub fn leaf_hash(prover: &DeviceId, index: u64, chunk: &[u8]) -> [u8; 32] {
    let (id, id_len) = prover.to_bytes();
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(&id[..id_len]);
    h.update(index.to_le_bytes());
    h.update(chunk);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn inner_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([INNER_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Tree depth for `chunk_count` leaves: `ceil(log2(chunk_count))`.
pub fn tree_depth(chunk_count: u64) -> u32 {
    if chunk_count <= 1 {
        0
    } else {
        64 - (chunk_count - 1).leading_zeros()
    }
}

/// The challenged chunk indices for `prover`'s commitment `root` given the epoch
/// `randomness`.
pub fn challenge_indices(
    randomness: &[u8; 32],
    prover: &DeviceId,
    root: &[u8; 32],
    chunk_count: u64,
    n: usize,
) -> Vec<u64> {
    let (id, id_len) = prover.to_bytes();
    (0..n as u64)
        .map(|j| {
            let mut h = Sha256::new();
            h.update(randomness);
            h.update(&id[..id_len]);
            h.update(root);
            h.update(j.to_le_bytes());
            let d: [u8; 32] = h.finalize().into();
            let mut first = [0u8; 8];
            first.copy_from_slice(&d[..8]);
            u64::from_le_bytes(first) % chunk_count.max(1)
        })
        .collect()
}

/// Check one chunk of `prover`'s tree and its path against `root`.
pub fn verify_chunk(
    root: &[u8; 32],
    depth: u32,
    prover: &DeviceId,
    index: u64,
    chunk: &[u8],
    path: &[[u8; 32]],
) -> bool {
    if path.len() != depth as usize {
        return false;
    }
    let mut node = leaf_hash(prover, index, chunk);
    let mut idx = index;
    for sibling in path {
        node = if idx & 1 == 0 {
            inner_hash(&node, sibling)
        } else {
            inner_hash(sibling, &node)
        };
        idx >>= 1;
    }
    idx == 0 && node == *root
}

/// Check a whole proof for `prover` against its registered `commitment`, with the
/// challenge of the proof's epoch derived from `randomness` (`challenges` indices).
pub fn verify_proof(
    commitment: &StorageCommitment,
    prover: &DeviceId,
    randomness: &[u8; 32],
    challenges: usize,
    proof: &StorageProof,
) -> Result<(), Rejection> {
    let expected = challenge_indices(
        randomness,
        prover,
        &commitment.root,
        commitment.chunk_count,
        challenges,
    );
    if proof.responses.len() != expected.len()
        || proof
            .responses
            .iter()
            .zip(&expected)
            .any(|(r, e)| r.index != *e)
    {
        return Err(Rejection::WrongChallenge);
    }
    let depth = tree_depth(commitment.chunk_count);
    for r in &proof.responses {
        if r.chunk.len() != commitment.chunk_size as usize
            || !verify_chunk(&commitment.root, depth, prover, r.index, &r.chunk, &r.path)
        {
            return Err(Rejection::StorageProofInvalid);
        }
    }
    Ok(())
}

/// A prover-side Merkle tree over data split into fixed-size chunks, bound to its prover.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    prover: DeviceId,
    chunk_size: u32,
    chunk_count: u64,
    /// The padded leaves up to the root (a complete binary tree).
    layers: depin_rewards::claims::Layers,
}

impl MerkleTree {
    /// Build `prover`'s tree of `data` cut into `chunk_size`-byte chunks (the last one
    /// zero-padded). `data` must not be empty.
    pub fn build(data: &[u8], chunk_size: u32, prover: &DeviceId) -> Result<Self> {
        if !(1..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(Error::Storage("chunk size out of range"));
        }
        if data.is_empty() {
            return Err(Error::Storage("no data"));
        }
        let size = chunk_size as usize;
        let chunk_count = data.len().div_ceil(size) as u64;
        if chunk_count > MAX_CHUNK_COUNT {
            return Err(Error::Storage("too many chunks"));
        }
        let width = 1usize << tree_depth(chunk_count);
        let mut leaves: Vec<[u8; 32]> = (0..chunk_count as usize)
            .map(|i| leaf_hash(prover, i as u64, &padded_chunk(data, size, i)))
            .collect();
        leaves.resize(width, [0u8; 32]);
        let layers = depin_rewards::claims::Layers::build(leaves, inner_hash);
        Ok(MerkleTree {
            prover: *prover,
            chunk_size,
            chunk_count,
            layers,
        })
    }

    /// The root.
    pub fn root(&self) -> [u8; 32] {
        self.layers.root()
    }

    /// The commitment to register.
    pub fn commitment(&self) -> StorageCommitment {
        StorageCommitment {
            root: self.root(),
            chunk_size: self.chunk_size,
            chunk_count: self.chunk_count,
        }
    }

    /// The Merkle path of chunk `index` (one sibling per level: the tree is complete).
    pub fn path(&self, index: u64) -> Option<Vec<[u8; 32]>> {
        if index >= self.chunk_count {
            return None;
        }
        Some(self.layers.proof(usize::try_from(index).ok()?))
    }

    /// Answer the challenge of an epoch: one [`ChunkProof`] per derived index.
    pub fn prove(
        &self,
        data: &[u8],
        randomness: &[u8; 32],
        challenges: usize,
    ) -> Result<Vec<ChunkProof>> {
        let root = self.root();
        challenge_indices(
            randomness,
            &self.prover,
            &root,
            self.chunk_count,
            challenges,
        )
        .into_iter()
        .map(|index| {
            Ok(ChunkProof {
                index,
                chunk: padded_chunk(data, self.chunk_size as usize, index as usize),
                path: self
                    .path(index)
                    .ok_or(Error::Storage("index out of range"))?,
            })
        })
        .collect()
    }
}

fn padded_chunk(data: &[u8], size: usize, i: usize) -> Vec<u8> {
    let start = i.saturating_mul(size).min(data.len());
    let end = start.saturating_add(size).min(data.len());
    let mut chunk = data[start..end].to_vec();
    chunk.resize(size, 0);
    chunk
}

/// A storage network's challenge randomness as a function of the epoch, for challenges
/// that are public randomness known per epoch (a randomness beacon such as drand, or a
/// value derived from the previous epoch's published root): `None` for an epoch without a
/// challenge. See [`StorageRules::set_beacon`].
pub type ChallengeBeacon = Arc<dyn Fn(Epoch) -> Option<[u8; 32]> + Send + Sync>;

#[derive(Clone)]
struct Beacon(ChallengeBeacon);

impl core::fmt::Debug for Beacon {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChallengeBeacon")
    }
}

/// The built-in proof-of-storage policy: [`StoragePolicy`] with the registered
/// commitments, the open challenge and the proofs counted under it. Applies to storage
/// commitments ([`Outcome::Recorded`]) and proofs ([`Outcome::Proven`]).
#[derive(Debug, Clone, Default)]
pub struct StorageRules {
    params: StoragePolicy,
    /// Each commitment with the storage challenge epoch open when it was recorded.
    commitments: crate::FastMap<(DeviceId, [u8; 32]), (StorageCommitment, Option<Epoch>)>,
    commitments_of: crate::FastMap<DeviceId, usize>,
    root_owner: crate::FastMap<[u8; 32], DeviceId>,
    proven: crate::FastSet<(DeviceId, [u8; 32])>,
    challenge: Option<(Epoch, [u8; 32])>,
    beacon: Option<Beacon>,
}

impl StorageRules {
    /// The policy's name.
    pub const NAME: Label = Label::new("storage");

    /// The rules with these parameters.
    pub fn new(params: StoragePolicy) -> Self {
        StorageRules {
            params,
            ..Default::default()
        }
    }

    /// The parameters.
    pub fn params(&self) -> &StoragePolicy {
        &self.params
    }

    /// Open the challenge of `epoch` with its public `randomness`. Proofs for earlier
    /// epochs become stale. [`Error::Config`] unless epochs increase.
    pub fn set_challenge(&mut self, epoch: Epoch, randomness: [u8; 32]) -> Result<()> {
        if self.challenge.is_some_and(|(e, _)| epoch <= e) {
            return Err(Error::Config("storage challenge epochs must increase"));
        }
        self.challenge = Some((epoch, randomness));
        // proofs of earlier challenges are stale from now on: their dedup entries can go
        self.proven.clear();
        Ok(())
    }

    /// Take challenges from `beacon` instead of [`StorageRules::set_challenge`]: before
    /// each storage item of epoch `E` (the epoch of its timestamp) is judged, the challenge
    /// of `E` is opened if `beacon(E)` is `Some` and no challenge of `E` or later is open.
    ///
    /// The challenges are then a function of the items alone, so a verifier rebuilt by
    /// replaying an oracle's stored items (the ingest engine does this at start and after
    /// a store outage) reaches the same state, with no separate record of when each
    /// challenge was opened. A commitment made in epoch `E` can answer challenges from
    /// `E + 1` on ([`Rejection::CommitmentTooLate`] before: `beacon(E)` is public during
    /// `E`).
    pub fn set_beacon(&mut self, beacon: ChallengeBeacon) {
        self.beacon = Some(Beacon(beacon));
    }

    /// Open the beacon's challenge of `epoch` if it is newer than the open one.
    fn follow_beacon(&mut self, epoch: Epoch) {
        let Some(Beacon(beacon)) = &self.beacon else {
            return;
        };
        if self.challenge.is_some_and(|(e, _)| e >= epoch) {
            return;
        }
        if let Some(randomness) = beacon(epoch) {
            self.challenge = Some((epoch, randomness));
            self.proven.clear();
        }
    }

    /// The open challenge.
    pub fn challenge(&self) -> Option<(Epoch, [u8; 32])> {
        self.challenge
    }

    fn commit(
        &mut self,
        device: DeviceId,
        c: &StorageCommitment,
    ) -> core::result::Result<(), Rejection> {
        if self.commitments.contains_key(&(device, c.root)) {
            return Err(Rejection::DuplicateCommitment);
        }
        let held = self.commitments_of.get(&device).copied().unwrap_or(0);
        let bytes = u64::from(c.chunk_size).saturating_mul(c.chunk_count);
        if held >= self.params.max_commitments_per_device
            || bytes > self.params.max_commitment_bytes
        {
            return Err(Rejection::TooManyCommitments);
        }
        // a root belongs to the first device that proves it (leaves bind the prover, so
        // only one device can); committing someone else's root first therefore locks
        // nobody out
        if self
            .root_owner
            .get(&c.root)
            .is_some_and(|owner| *owner != device)
            && !self.params.allow_shared_roots
        {
            return Err(Rejection::SharedCommitment);
        }
        let open_challenge = self.challenge.map(|(e, _)| e);
        self.commitments
            .insert((device, c.root), (*c, open_challenge));
        *self.commitments_of.entry(device).or_insert(0) += 1;
        Ok(())
    }

    fn prove(
        &mut self,
        device: DeviceId,
        p: &StorageProof,
    ) -> core::result::Result<Outcome, Rejection> {
        let (commitment, committed_under) = self
            .commitments
            .get(&(device, p.root))
            .ok_or(Rejection::UnknownCommitment)?;
        let (cur, randomness) = self.challenge.ok_or(Rejection::NoChallenge)?;
        // the commitment must predate the challenge it answers: one recorded while that
        // challenge (or a later one) was open could be built around it
        if committed_under.is_some_and(|e| e >= p.epoch) {
            return Err(Rejection::CommitmentTooLate);
        }
        if p.epoch < cur {
            return Err(Rejection::StaleChallenge);
        }
        if p.epoch > cur {
            return Err(Rejection::NoChallenge);
        }
        if self.proven.contains(&(device, p.root)) {
            return Err(Rejection::DuplicateProof);
        }
        verify_proof(commitment, &device, &randomness, self.params.challenges, p)?;
        self.proven.insert((device, p.root));
        self.root_owner.entry(p.root).or_insert(device);
        Ok(Outcome::Proven {
            root: p.root,
            epoch: p.epoch,
        })
    }
}

impl Policy for StorageRules {
    fn name(&self) -> Label {
        Self::NAME
    }

    fn version(&self) -> u32 {
        self.params.version
    }

    fn applies_to(&self, kind: AttestationKind) -> bool {
        kind == AttestationKind::STORAGE_COMMITMENT || kind == AttestationKind::STORAGE_PROOF
    }

    fn apply(
        &mut self,
        item: &Item<'_>,
        outcome: &mut Outcome,
    ) -> core::result::Result<(), Rejection> {
        self.follow_beacon(item.epoch);
        if let Some(c) = item.payload.get::<StorageCommitment>() {
            self.commit(*item.device, c)?;
            *outcome = Outcome::Recorded;
            return Ok(());
        }
        let p = item.body::<StorageProof>()?;
        *outcome = self.prove(*item.device, p)?;
        Ok(())
    }
}
