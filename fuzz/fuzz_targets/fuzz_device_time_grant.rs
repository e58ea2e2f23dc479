//! The time-grant verifier never panics on arbitrary bytes, and never accepts bytes it did
//! not see signed.
#![no_main]

use depin_core::{Domain, KeyType, NetworkId, SigningKey};
use depin_device::time::verify_grant;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let domain = Domain::new(NetworkId::new("fuzz-net").unwrap());
    for key_type in KeyType::ALL {
        let key = SigningKey::from_secret_bytes(key_type, &[7; 32]).unwrap();
        let nonce: [u8; 16] = data
            .get(2..18)
            .and_then(|n| n.try_into().ok())
            .unwrap_or([0; 16]);
        assert!(verify_grant(data, &domain, &key.public_key(), &nonce).is_err());
    }
});
