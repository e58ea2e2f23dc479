//! Software signers, the signer trait plumbing and low-S normalisation.

use depin_core::{DeviceId, KeyType, Signature, SigningKey};
use depin_device::signer::{
    normalize_low_s, Ed25519Signer, ErrorKind, P256Signer, Secp256k1Signer, Signer,
};

use crate::{AnySigner, TEST_SECRET};

#[test]
fn software_signers_match_depin_core_keys() {
    for kt in KeyType::ALL {
        let core_key = SigningKey::from_secret_bytes(kt, &TEST_SECRET).unwrap();
        let mut signer = AnySigner::new(kt, &TEST_SECRET);
        assert_eq!(signer.public_key(), core_key.public_key(), "{kt}");
        assert_eq!(signer.device_id(), DeviceId::from(&core_key.public_key()));
        assert_eq!(signer.key_type(), kt);
        assert_eq!(
            signer.key_hint(),
            DeviceId::from(&core_key.public_key()).key_hint()
        );
        // deterministic signatures (RFC 8032 / RFC 6979): identical to depin-core's
        let digest = [0x5a; 32];
        let sig = signer.sign_digest(&digest).unwrap();
        assert_eq!(
            sig,
            core_key.sign_prehash(&digest).unwrap().to_bytes(),
            "{kt}"
        );
        let parsed = Signature::from_bytes(kt, &sig).unwrap();
        core_key
            .public_key()
            .verify_prehash(&digest, &parsed)
            .unwrap();
    }
}

#[test]
fn new_checks_the_key_type() {
    let k = || SigningKey::from_secret_bytes(KeyType::Secp256k1, &TEST_SECRET).unwrap();
    // both constructors return the crate's one error type
    let wrong = depin_device::Error::Signer(ErrorKind::WrongKeyType);
    assert_eq!(Ed25519Signer::new(k()).unwrap_err(), wrong);
    assert_eq!(P256Signer::new(k()).unwrap_err(), wrong);
    let s = Secp256k1Signer::new(k()).unwrap();
    assert_eq!(s.public_key(), k().public_key());
    let e = SigningKey::from_secret_bytes(KeyType::Ed25519, &TEST_SECRET).unwrap();
    assert!(Ed25519Signer::new(e).is_ok());
    let p = SigningKey::from_secret_bytes(KeyType::P256, &TEST_SECRET).unwrap();
    assert!(P256Signer::new(p).is_ok());
}

#[test]
fn invalid_ecdsa_secrets_are_refused() {
    for err in [
        Secp256k1Signer::from_secret(&[0; 32]).unwrap_err(),
        P256Signer::from_secret(&[0xff; 32]).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                depin_device::Error::Core(depin_core::Error::InvalidKey { .. })
            ),
            "{err:?}"
        );
    }
    // any 32 bytes are an Ed25519 seed
    assert!(Ed25519Signer::from_secret(&[0; 32]).is_ok());
}

#[test]
fn mut_ref_is_a_signer() {
    fn sign_with<S: Signer>(mut s: S) -> [u8; 64] {
        s.sign_digest(&[1; 32]).unwrap()
    }
    let mut signer = Ed25519Signer::from_secret(&TEST_SECRET).unwrap();
    let a = sign_with(&mut signer);
    let b = signer.sign_digest(&[1; 32]).unwrap();
    assert_eq!(a, b);
    fn key_type_of<S: Signer>(s: S) -> KeyType {
        s.key_type()
    }
    assert_eq!(key_type_of(&mut signer), KeyType::Ed25519);
}

/// n - s for a 32-byte big-endian s (test helper, independent of the library code).
fn negate_mod(n: &[u8; 32], s: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut v = i16::from(n[i]) - i16::from(s[i]) - borrow;
        borrow = 0;
        if v < 0 {
            v += 256;
            borrow = 1;
        }
        out[i] = v as u8;
    }
    out
}

#[test]
fn normalize_low_s_turns_the_high_s_twin_back() {
    let orders: [(KeyType, [u8; 32]); 2] = [
        (
            KeyType::Secp256k1,
            crate::unhex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
                .try_into()
                .unwrap(),
        ),
        (
            KeyType::P256,
            crate::unhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
                .try_into()
                .unwrap(),
        ),
    ];
    for (kt, n) in orders {
        let key = SigningKey::from_secret_bytes(kt, &TEST_SECRET).unwrap();
        for i in 0u8..16 {
            let digest = [i; 32];
            let low = key.sign_prehash(&digest).unwrap().to_bytes();
            let mut high = low;
            high[32..].copy_from_slice(&negate_mod(&n, &low[32..]));
            // the network refuses the malleable twin ...
            assert!(Signature::from_bytes(kt, &high).is_err(), "{kt}");
            // ... normalize_low_s restores the canonical one
            assert!(normalize_low_s(kt, &mut high));
            assert_eq!(high, low);
            // and leaves a low-S signature alone
            let mut same = low;
            assert!(!normalize_low_s(kt, &mut same));
            assert_eq!(same, low);
        }
        // s >= n is not a scalar: left unchanged
        let mut bogus = [0xff; 64];
        assert!(!normalize_low_s(kt, &mut bogus));
        assert_eq!(bogus, [0xff; 64]);
    }
    let mut ed = [0xee; 64];
    assert!(!normalize_low_s(KeyType::Ed25519, &mut ed));
    assert_eq!(ed, [0xee; 64]);
}

#[test]
fn error_kinds() {
    use depin_device::signer::{SignerError as _, SoftwareSignerError};
    assert_eq!(
        SoftwareSignerError::SigningFailed.kind(),
        ErrorKind::SigningFailed
    );
    assert_eq!(ErrorKind::Busy.kind(), ErrorKind::Busy);
}
