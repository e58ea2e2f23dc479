//! The signed deny-list decoder never panics and never accepts a list the authority
//! did not sign.
#![no_main]

use depin_attest::DenyList;
use depin_core::{Domain, KeyType, NetworkId, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let domain = Domain::new(NetworkId::new("fuzz-net").unwrap());
    let authority = SigningKey::from_secret_bytes(KeyType::Ed25519, &[9; 32]).unwrap();
    assert!(DenyList::verify_signed(data, &domain, &authority.public_key()).is_err());
});
