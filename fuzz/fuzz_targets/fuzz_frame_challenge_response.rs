//! The challenge-response parser and verifier never panic on arbitrary bytes.
#![no_main]

use depin_core::{Domain, KeyType, NetworkId, SigningKey};
use depin_device::challenge::{verify_response, ChallengeResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let domain = Domain::new(NetworkId::new("fuzz-net").unwrap());
    let key = SigningKey::from_secret_bytes(KeyType::P256, &[7; 32]).unwrap();
    if let Ok(r) = ChallengeResponse::parse(data) {
        assert_eq!(r.signed_bytes().len() + 64, data.len());
        assert!(verify_response(data, &domain, &key.public_key(), &r.nonce).is_err());
    }
});
