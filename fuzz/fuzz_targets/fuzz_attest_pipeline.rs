//! The whole pipeline never panics on arbitrary frames and envelopes, and never accepts
//! one (nobody but the test device can sign, and it signed nothing here).
#![no_main]

use depin_attest::{
    DeviceRecord, Input, KindSet, MemoryRegistry, MemoryReplayStore, Verifier, VerifierConfig,
};
use depin_core::{DeviceId, Domain, KeyType, NetworkId, SigningKey, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let domain = Domain::new(NetworkId::new("fuzz-net").unwrap());
    let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[7; 32]).unwrap();
    let mut registry = MemoryRegistry::new();
    registry
        .insert(DeviceId::from(&key.public_key()), DeviceRecord::active(KindSet::ALL))
        .unwrap();
    let mut v = Verifier::new(VerifierConfig::new(domain), registry, MemoryReplayStore::new())
        .unwrap();
    let now = Timestamp(1_700_000_000_000);
    let verdicts = v.verify_batch(&[Input::Frame(data), Input::Envelope(data)], now);
    assert!(verdicts.iter().all(|x| x.is_err()));
    let _ = v.finalize_coverage();
});
