//! Malleability and weak-key cases: high-S twins, S >= l, small-order keys and R,
//! non-canonical point encodings.

use depin_core::{Domain, Error, KeyType, MessageKind, NetworkId, PublicKey, Signature};

use crate::test_key;

/// Ed25519 group order l, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    out
}

/// The eight small-order points (canonical encodings) and the non-canonical
/// encodings of y in [p, p + 18], with either sign bit.
fn weak_and_noncanonical_encodings() -> Vec<[u8; 32]> {
    let mut out = Vec::new();
    for hex_pt in [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    ] {
        out.push(hex::decode(hex_pt).unwrap().try_into().unwrap());
    }
    for k in 0u8..19 {
        let mut y = [0xffu8; 32];
        y[0] = 0xed + k;
        y[31] = 0x7f;
        out.push(y);
        y[31] = 0xff;
        out.push(y);
    }
    out
}

#[test]
fn small_order_and_non_canonical_keys_refused_at_construction() {
    for enc in weak_and_noncanonical_encodings() {
        let err = PublicKey::from_bytes(KeyType::Ed25519, &enc).unwrap_err();
        assert!(
            matches!(err, Error::InvalidKey { .. }),
            "{enc:02x?} gave {err:?}"
        );
    }
}

#[test]
fn mixed_order_key_refused() {
    // A valid key plus a point of order 8 has a torsion component.
    let key = test_key(KeyType::Ed25519, 5).public_key();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(key.to_bytes().as_ref().try_into().unwrap())
        .unwrap();
    let torsion = curve25519_dalek::constants::EIGHT_TORSION[1];
    let mixed = (vk.to_edwards() + torsion).compress();
    let err = PublicKey::from_bytes(KeyType::Ed25519, mixed.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        Error::InvalidKey {
            key_type: KeyType::Ed25519,
            reason: "key has a torsion component"
        }
    );
}

#[test]
fn ed25519_s_plus_l_refused() {
    let key = test_key(KeyType::Ed25519, 9);
    let sig = key.sign_raw(b"hello").unwrap().to_bytes();
    let mut s = [0u8; 32];
    s.copy_from_slice(&sig[32..]);
    let mut twin = sig;
    twin[32..].copy_from_slice(&add_le(&s, &L));
    let err = Signature::from_bytes(KeyType::Ed25519, &twin).unwrap_err();
    assert!(matches!(err, Error::InvalidSignatureEncoding { .. }));
    // and dalek's own strict verifier agrees that it is bad
    let vk = ed25519_dalek::VerifyingKey::from_bytes(
        key.public_key().to_bytes().as_ref().try_into().unwrap(),
    )
    .unwrap();
    assert!(vk
        .verify_strict(b"hello", &ed25519_dalek::Signature::from_bytes(&twin))
        .is_err());
}

#[test]
fn ed25519_small_order_or_non_canonical_r_refused() {
    let key = test_key(KeyType::Ed25519, 9);
    let sig = key.sign_raw(b"hello").unwrap().to_bytes();
    for enc in weak_and_noncanonical_encodings() {
        let mut bad = sig;
        bad[..32].copy_from_slice(&enc);
        assert!(Signature::from_bytes(KeyType::Ed25519, &bad).is_err());
    }
}

fn high_s_twin_k256(sig: &[u8; 64]) -> [u8; 64] {
    let s = k256::ecdsa::Signature::from_slice(sig).unwrap();
    let (r, s_scalar) = s.split_scalars();
    let neg = -*s_scalar;
    let twin = k256::ecdsa::Signature::from_scalars(r.to_bytes(), neg.to_bytes()).unwrap();
    twin.to_bytes().as_slice().try_into().unwrap()
}

fn high_s_twin_p256(sig: &[u8; 64]) -> [u8; 64] {
    let s = p256::ecdsa::Signature::from_slice(sig).unwrap();
    let (r, s_scalar) = s.split_scalars();
    let neg = -*s_scalar;
    let twin = p256::ecdsa::Signature::from_scalars(r.to_bytes(), neg.to_bytes()).unwrap();
    twin.to_bytes().as_slice().try_into().unwrap()
}

#[test]
fn ecdsa_high_s_twin_refused() {
    let domain = Domain::new(NetworkId::new("test").unwrap());
    for (kt, twin_fn) in [
        (
            KeyType::Secp256k1,
            high_s_twin_k256 as fn(&[u8; 64]) -> [u8; 64],
        ),
        (KeyType::P256, high_s_twin_p256),
    ] {
        let key = test_key(kt, 11);
        let sig = domain
            .sign(&key, MessageKind::ENERGY_READING, b"m")
            .unwrap();
        let bytes = sig.to_bytes();
        // signing always yields low S, which parses
        Signature::from_bytes(kt, &bytes).unwrap();
        let twin = twin_fn(&bytes);
        assert_ne!(twin, bytes);
        let err = Signature::from_bytes(kt, &twin).unwrap_err();
        assert_eq!(
            err,
            Error::InvalidSignatureEncoding {
                key_type: kt,
                reason: "high S (malleable)"
            }
        );
    }
}

#[test]
fn ecdsa_zero_and_overflowing_scalars_refused() {
    for kt in [KeyType::Secp256k1, KeyType::P256] {
        assert!(Signature::from_bytes(kt, &[0u8; 64]).is_err());
        assert!(Signature::from_bytes(kt, &[0xffu8; 64]).is_err());
        assert!(Signature::from_bytes(kt, &[1u8; 63]).is_err());
    }
}

#[test]
fn signature_failure_is_opaque() {
    let domain = Domain::new(NetworkId::new("test").unwrap());
    for kt in KeyType::ALL {
        let key = test_key(kt, 3);
        let sig = domain
            .sign(&key, MessageKind::ENERGY_READING, b"a")
            .unwrap();
        let err = domain
            .verify(&key.public_key(), MessageKind::ENERGY_READING, b"b", &sig)
            .unwrap_err();
        assert_eq!(err, Error::SignatureRejected);
        assert_eq!(err.to_string(), "signature rejected");
    }
}

#[test]
fn key_type_mismatch_is_typed() {
    let domain = Domain::new(NetworkId::new("test").unwrap());
    let ed = test_key(KeyType::Ed25519, 3);
    let k1 = test_key(KeyType::Secp256k1, 3);
    let sig = domain.sign(&ed, MessageKind::ENERGY_READING, b"a").unwrap();
    assert!(matches!(
        domain.verify(&k1.public_key(), MessageKind::ENERGY_READING, b"a", &sig),
        Err(Error::KeyTypeMismatch { .. })
    ));
}
