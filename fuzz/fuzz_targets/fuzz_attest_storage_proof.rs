//! Storage proof checking never panics on arbitrary proofs (any index, chunk length or
//! path depth) and never accepts one for data the prover does not have.
#![no_main]

use depin_attest::storage::{verify_proof, MerkleTree};
use depin_attest::types::StorageProof;
use depin_core::{DeviceId, KeyType, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = depin_core::encoding::decode::<StorageProof>(data, 64 * 1024) else {
        return;
    };
    let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[7; 32]).unwrap();
    let prover = DeviceId::from(&key.public_key());
    let secret: Vec<u8> = (0..5_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let tree = MerkleTree::build(&secret, 64, &prover).unwrap();
    let mut commitment = tree.commitment();
    let _ = verify_proof(&commitment, &prover, &[3; 32], 4, &proof);
    // a commitment to unknown data with the proof's root: only a hash collision passes
    commitment.root = [0xEE; 32];
    assert!(verify_proof(&commitment, &prover, &[3; 32], 4, &proof).is_err());
});
