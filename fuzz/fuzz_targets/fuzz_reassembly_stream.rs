//! Reassembly never panics on an arbitrary stream of fragments and never returns a
//! frame without a valid signature. Input: `len, bytes[len], len, bytes[len], ...`.
#![no_main]

use depin_core::{Domain, KeyType, NetworkId, SigningKey};
use depin_device::fragment::Reassembler;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let domain = Domain::new(NetworkId::new("fuzz-net").unwrap());
    let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[7; 32])
        .unwrap()
        .public_key();
    let mut r = Reassembler::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (fragment, next) = tail.split_at(n);
        rest = next;
        if let Ok(Some(frame)) = r.push_verified(fragment, &domain, &key) {
            panic!("unsigned bytes came out as a frame: {frame:?}");
        }
    }
});
