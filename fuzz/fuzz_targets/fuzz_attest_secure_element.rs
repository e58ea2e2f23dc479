//! The hardware evidence verifiers (secure element, Android Key Attestation, TPM 2.0) never
//! panic and never accept evidence for a device whose key no certificate here names (no root
//! is even configured).
#![no_main]

use depin_attest::evidence::{
    tpm_public_point, AndroidKeyEvidence, AndroidKeyVerifier, KeyDescription,
    SecureElementEvidence, SecureElementVerifier, TpmEvidence, TpmVerifier,
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
    // the TPM decoders (evidence container, TPM2B_PUBLIC) and verifier
    let _ = TpmEvidence::decode(data);
    let _ = tpm_public_point(data);
    assert!(TpmVerifier::new()
        .allow_any_pcr_state()
        .verify(data, &request)
        .is_err());
});
