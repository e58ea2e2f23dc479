//! The network-side frame decoder and verifier never panic on arbitrary bytes, and
//! never accept a frame the test key did not sign.
#![no_main]

use depin_core::frame::Frame;
use depin_core::{Domain, KeyType, NetworkId, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::parse(data) {
        assert_eq!(frame.signed_bytes().len() + 64, data.len());
        let domain = Domain::new(NetworkId::new("fuzz-net").unwrap());
        let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[7; 32]).unwrap();
        let _ = frame.digest(&domain);
        let _ = frame.signature();
        assert!(frame.verify(&domain, &key.public_key()).is_err());
    }
});
