//! Proof of storage: commitments, challenges, honest and dishonest proofs.

use crate::common::Attestation;
use depin_attest::storage::{challenge_indices, tree_depth, verify_chunk, MerkleTree};
use depin_attest::types::{StorageProof, MAX_CHUNK_SIZE};
use depin_attest::{Input, Outcome, Rejection};
use depin_core::Epoch;

use crate::common::*;

const RANDOMNESS_1: [u8; 32] = [0xA1; 32];
const RANDOMNESS_2: [u8; 32] = [0xB2; 32];

fn data() -> Vec<u8> {
    (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect()
}

struct Fixture {
    net: Net,
    v: TestVerifier,
    tree: MerkleTree,
    data: Vec<u8>,
    seq: u64,
}

impl Fixture {
    fn new() -> Self {
        let net = Net::new(2);
        let mut v = net.verifier();
        let data = data();
        let tree = MerkleTree::build(&data, 256, &net.id(0)).unwrap();
        let c = envelope(
            &net.keys[0],
            1,
            Attestation::StorageCommitment(tree.commitment()),
        );
        assert_eq!(
            v.verify_one(Input::Envelope(&c), NOW).unwrap().outcome,
            Outcome::Recorded
        );
        v.set_storage_challenge(Epoch(10), RANDOMNESS_1).unwrap();
        Fixture {
            net,
            v,
            tree,
            data,
            seq: 1,
        }
    }

    fn honest(&self, randomness: &[u8; 32], epoch: Epoch) -> StorageProof {
        StorageProof {
            root: self.tree.root(),
            epoch,
            responses: self.tree.prove(&self.data, randomness, 8).unwrap(),
        }
    }

    fn submit(&mut self, p: StorageProof) -> depin_attest::Verdict {
        self.seq += 1;
        let e = envelope(&self.net.keys[0], self.seq, Attestation::StorageProof(p));
        self.v.verify_one(Input::Envelope(&e), NOW)
    }
}

#[test]
fn honest_proof_is_accepted() {
    let mut f = Fixture::new();
    let p = f.honest(&RANDOMNESS_1, Epoch(10));
    assert_eq!(
        f.submit(p).unwrap().outcome,
        Outcome::Proven {
            root: f.tree.root(),
            epoch: Epoch(10)
        }
    );
}

#[test]
fn wrong_chunk_is_rejected() {
    let mut f = Fixture::new();
    let mut p = f.honest(&RANDOMNESS_1, Epoch(10));
    p.responses[3].chunk[17] ^= 1;
    assert_eq!(f.submit(p), Err(Rejection::StorageProofInvalid));
}

#[test]
fn wrong_path_is_rejected() {
    let mut f = Fixture::new();
    let mut p = f.honest(&RANDOMNESS_1, Epoch(10));
    p.responses[0].path[2][0] ^= 1;
    assert_eq!(f.submit(p.clone()), Err(Rejection::StorageProofInvalid));
    // a path one level short
    let mut q = f.honest(&RANDOMNESS_1, Epoch(10));
    q.responses[1].path.pop();
    assert_eq!(f.submit(q), Err(Rejection::StorageProofInvalid));
}

#[test]
fn proof_for_an_old_challenge_is_rejected() {
    let mut f = Fixture::new();
    let old = f.honest(&RANDOMNESS_1, Epoch(10));
    f.v.set_storage_challenge(Epoch(11), RANDOMNESS_2).unwrap();
    // the old epoch's (valid at the time) proof
    assert_eq!(f.submit(old.clone()), Err(Rejection::StaleChallenge));
    // the old randomness relabelled with the new epoch
    let mut relabelled = old;
    relabelled.epoch = Epoch(11);
    assert_eq!(f.submit(relabelled), Err(Rejection::WrongChallenge));
    // a proof for a future epoch
    let future = f.honest(&RANDOMNESS_2, Epoch(12));
    assert_eq!(f.submit(future), Err(Rejection::NoChallenge));
    let fresh = f.honest(&RANDOMNESS_2, Epoch(11));
    assert!(f.submit(fresh).is_ok());
    // challenge epochs only move forward
    assert!(f.v.set_storage_challenge(Epoch(11), RANDOMNESS_1).is_err());
}

#[test]
fn unknown_commitment_and_duplicates() {
    let mut f = Fixture::new();
    let mut p = f.honest(&RANDOMNESS_1, Epoch(10));
    p.root[0] ^= 1;
    assert_eq!(f.submit(p), Err(Rejection::UnknownCommitment));
    // another prover cannot use device 0's commitment
    let p = f.honest(&RANDOMNESS_1, Epoch(10));
    let e = envelope(&f.net.keys[1], 1, Attestation::StorageProof(p));
    assert_eq!(
        f.v.verify_one(Input::Envelope(&e), NOW),
        Err(Rejection::UnknownCommitment)
    );
    // registering the same root twice
    let c = envelope(
        &f.net.keys[0],
        100,
        Attestation::StorageCommitment(f.tree.commitment()),
    );
    assert_eq!(
        f.v.verify_one(Input::Envelope(&c), NOW),
        Err(Rejection::DuplicateCommitment)
    );
}

#[test]
fn too_few_responses_or_wrong_indices() {
    let mut f = Fixture::new();
    let mut p = f.honest(&RANDOMNESS_1, Epoch(10));
    p.responses.pop();
    assert_eq!(f.submit(p), Err(Rejection::WrongChallenge));
    let mut p = f.honest(&RANDOMNESS_1, Epoch(10));
    // answer with a chunk the prover kept instead of the challenged one
    let other = (p.responses[0].index + 1) % 40;
    let start = other as usize * 256;
    let mut chunk = f.data[start..(start + 256).min(f.data.len())].to_vec();
    chunk.resize(256, 0);
    p.responses[0].index = other;
    p.responses[0].chunk = chunk;
    p.responses[0].path = f.tree.path(other).unwrap();
    assert_eq!(f.submit(p), Err(Rejection::WrongChallenge));
}

#[test]
fn challenge_derivation_matches_the_documented_bytes() {
    use sha2::{Digest, Sha256};
    let prover = id(&key(1));
    let (idb, n) = prover.to_bytes();
    let root = [0x77u8; 32];
    let got = challenge_indices(&RANDOMNESS_1, &prover, &root, 40, 3);
    for (j, idx) in got.iter().enumerate() {
        let mut h = Sha256::new();
        h.update(RANDOMNESS_1);
        h.update(&idb[..n]);
        h.update(root);
        h.update((j as u64).to_le_bytes());
        let d = h.finalize();
        let first = u64::from_le_bytes(d[..8].try_into().unwrap());
        assert_eq!(*idx, first % 40);
    }
}

#[test]
fn merkle_tree_edge_cases() {
    assert_eq!(tree_depth(1), 0);
    assert_eq!(tree_depth(2), 1);
    assert_eq!(tree_depth(3), 2);
    assert_eq!(tree_depth(1 << 20), 20);
    assert_eq!(tree_depth((1 << 20) + 1), 21);
    // one chunk: the root is the leaf
    let prover = id(&key(1));
    let t = MerkleTree::build(b"tiny", 16, &prover).unwrap();
    let mut chunk = b"tiny".to_vec();
    chunk.resize(16, 0);
    assert!(verify_chunk(&t.root(), 0, &prover, 0, &chunk, &[]));
    assert!(!verify_chunk(&t.root(), 0, &prover, 1, &chunk, &[]));
    // the leaf binds the prover: the same bytes do not verify for another device
    assert!(!verify_chunk(&t.root(), 0, &id(&key(2)), 0, &chunk, &[]));
    // every chunk of an odd-sized tree verifies
    let data = data();
    let t = MerkleTree::build(&data, 1000, &prover).unwrap();
    for i in 0..10u64 {
        let mut c = data[(i as usize * 1000)..((i as usize + 1) * 1000).min(data.len())].to_vec();
        c.resize(1000, 0);
        assert!(verify_chunk(
            &t.root(),
            tree_depth(10),
            &prover,
            i,
            &c,
            &t.path(i).unwrap()
        ));
    }
    assert!(t.path(10).is_none());
    assert!(MerkleTree::build(&[], 16, &prover).is_err());
    assert!(MerkleTree::build(b"x", 0, &prover).is_err());
    assert!(MerkleTree::build(b"x", MAX_CHUNK_SIZE + 1, &prover).is_err());
}
