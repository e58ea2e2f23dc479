//! The hardware evidence verifiers (secure element, Android Key Attestation) never panic and never accepts evidence for a device
//! whose key no certificate here names (no root is even configured).
#![no_main]

use depin_attest::evidence::{
    AndroidKeyEvidence, AndroidKeyVerifier, KeyDescription, SecureElementEvidence,
    SecureElementVerifier,
};
use depin_core::evidence::{EvidenceRequest, EvidenceVerifier};
use depin_core::{DeviceId, KeyType, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = SecureElementEvidence::decode(data);
    let device = DeviceId::from(
        SigningKey::from_secret_bytes(KeyType::P256, &[7; 32])
            .unwrap()
            .public_key(),
    );
    let verifier = SecureElementVerifier::new();
    let request = EvidenceRequest {
        device: &device,
        nonce: &[0x4e; 32],
        now_secs: 1_796_083_200,
    };
    assert!(verifier.verify(data, &request).is_err());
    // the Android decoders and verifier, on the same bytes
    let _ = AndroidKeyEvidence::decode(data);
    let _ = KeyDescription::decode(data);
    assert!(AndroidKeyVerifier::new().verify(data, &request).is_err());
});
