//! Issue 12, attack 4: batch and single verdicts must agree for small-order `R`.
//!
//! The attack: `R = 01 00..00 80` (the identity with the sign bit set, a non-canonical
//! encoding a byte table of canonical points missed) and `s = H(R || A || M) * a`. The
//! cofactorless batch equation then holds exactly, so the signature was accepted in every
//! batch of five or more while `verify_strict` refused it alone. The check now comes from
//! the curve; these tests run every small-order point in every encoding through both paths.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::Scalar;
use depin_core::batch::{verify_batch, BatchItem};
use depin_core::{Domain, KeyType, MessageKind, NetworkId, PublicKey, Signature, SigningKey};
use sha2::{Digest, Sha512};

/// Every encoding of every small-order point: the canonical one, the same with the sign
/// bit flipped, and `y + p` (the only non-canonical `y` encodings that fit in 255 bits are
/// those of `y < 19`) with either sign bit.
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut out = Vec::new();
    for t in EIGHT_TORSION {
        let canonical = t.compress().to_bytes();
        out.push(canonical);
        let mut flipped = canonical;
        flipped[31] ^= 0x80;
        out.push(flipped);
        // y + p when y < 19: p = 2^255 - 19, so y + p has low byte y + 0xed and all
        // other bytes 0xff (the top one 0x7f before the sign bit).
        let y_low = canonical[0];
        let y_is_small = canonical[1..31].iter().all(|&b| b == 0) && canonical[31] & 0x7f == 0;
        if y_is_small && y_low < 19 {
            for sign in [0u8, 0x80] {
                let mut e = [0xffu8; 32];
                e[0] = 0xed + y_low;
                e[31] = 0x7f | sign;
                out.push(e);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The secret scalar `a` of an Ed25519 seed (RFC 8032 5.1.5: clamped SHA-512 half).
fn secret_scalar(seed: &[u8; 32]) -> Scalar {
    let h = Sha512::digest(seed);
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    Scalar::from_bytes_mod_order(a)
}

/// `s = H(R || A || M) * a`: with `R` of small order, `sB - kA = 0`, so the equation
/// `sB = R + kA` holds up to the torsion of `R` (exactly, for the identity).
fn forged(seed: &[u8; 32], public: &[u8; 32], r: &[u8; 32], msg: &[u8]) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(r);
    h.update(public);
    h.update(msg);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = k * secret_scalar(seed);
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(r);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

/// What `verify_strict` itself says about raw signature bytes.
fn strict(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(public).unwrap();
    vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
        .is_ok()
}

#[test]
fn the_reported_identity_with_sign_bit_is_among_the_encodings() {
    let mut reported = [0u8; 32];
    reported[0] = 1;
    reported[31] = 0x80;
    assert!(small_order_encodings().contains(&reported));
    // 8 canonical encodings; flipping the sign bit gives the negated point (also small
    // order, already listed) except for x = 0 (identity, order 2): 2 more; y + p exists for
    // y = 1 (identity) and y = 0 (the order-4 pair), with either sign bit: 4 more
    assert_eq!(small_order_encodings().len(), 14);
}

#[test]
fn small_order_r_batch_verdict_equals_verify_strict_for_every_encoding_and_batch_size() {
    let domain = Domain::new(NetworkId::new("small-order").unwrap());
    let seed = [7u8; 32];
    let attacker = SigningKey::from_secret_bytes(KeyType::Ed25519, &seed).unwrap();
    let attacker_pk = attacker.public_key();
    let public: [u8; 32] = attacker_pk.to_bytes().as_ref().try_into().unwrap();
    // honest fillers so that the forged item sits in batches of every size
    let honest: Vec<SigningKey> = (1..=70u8)
        .map(|i| {
            SigningKey::from_secret_bytes(KeyType::Ed25519, &[i.wrapping_add(100); 32]).unwrap()
        })
        .collect();
    let honest_pks: Vec<PublicKey> = honest.iter().map(|k| k.public_key()).collect();
    let honest_digests: Vec<[u8; 32]> = (0..honest.len())
        .map(|i| domain.digest(MessageKind::REPORT_FRAME, &(i as u64).to_le_bytes()))
        .collect();
    let honest_sigs: Vec<Signature> = honest
        .iter()
        .zip(&honest_digests)
        .map(|(k, d)| k.sign_prehash(d).unwrap())
        .collect();

    let digest = domain.digest(MessageKind::REPORT_FRAME, b"front-run");
    for enc in small_order_encodings() {
        let sig = forged(&seed, &public, &enc, &digest);
        let strict_verdict = strict(&public, &digest, &sig);
        assert!(
            !strict_verdict,
            "verify_strict accepted small-order R {enc:02x?}"
        );
        // the only way into the batch path is the parser, which must refuse it
        let parsed = Signature::from_bytes(KeyType::Ed25519, &sig);
        assert!(parsed.is_err(), "small-order R {enc:02x?} parsed");
        let single = parsed
            .as_ref()
            .is_ok_and(|s| attacker_pk.verify_prehash(&digest, s).is_ok());
        assert_eq!(single, strict_verdict);
        for size in (1..=8usize).chain([64]) {
            let batch_verdict = match &parsed {
                Err(_) => false,
                Ok(s) => {
                    let mut items: Vec<BatchItem<'_>> = (0..size - 1)
                        .map(|i| BatchItem {
                            key: &honest_pks[i],
                            digest: &honest_digests[i],
                            signature: &honest_sigs[i],
                        })
                        .collect();
                    items.push(BatchItem {
                        key: &attacker_pk,
                        digest: &digest,
                        signature: s,
                    });
                    let v = verify_batch(&items);
                    assert!(v[..size - 1].iter().all(|&ok| ok));
                    v[size - 1]
                }
            };
            assert_eq!(
                batch_verdict, strict_verdict,
                "R {enc:02x?}, batch of {size}"
            );
        }
    }
}

#[test]
fn honest_signatures_still_agree_in_every_batch_size() {
    let domain = Domain::new(NetworkId::new("small-order").unwrap());
    let keys: Vec<SigningKey> = (1..=64u8)
        .map(|i| SigningKey::from_secret_bytes(KeyType::Ed25519, &[i; 32]).unwrap())
        .collect();
    let pks: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let digests: Vec<[u8; 32]> = (0..keys.len())
        .map(|i| domain.digest(MessageKind::REPORT_FRAME, &(i as u64).to_le_bytes()))
        .collect();
    let sigs: Vec<Signature> = keys
        .iter()
        .zip(&digests)
        .map(|(k, d)| {
            // through the bytes, as a verifier receives them
            let raw = k.sign_prehash(d).unwrap().to_bytes();
            Signature::from_bytes(KeyType::Ed25519, &raw).unwrap()
        })
        .collect();
    for size in (1..=8usize).chain([64]) {
        let items: Vec<BatchItem<'_>> = (0..size)
            .map(|i| BatchItem {
                key: &pks[i],
                digest: &digests[i],
                signature: &sigs[i],
            })
            .collect();
        assert!(verify_batch(&items).iter().all(|&ok| ok), "batch of {size}");
    }
}

#[test]
fn the_fast_r_rule_is_the_decompression_rule() {
    use depin_core::keys::{ed25519_r_is_acceptable, ed25519_r_is_acceptable_by_decompression};
    for enc in small_order_encodings() {
        assert!(!ed25519_r_is_acceptable(&enc), "{enc:02x?}");
        assert!(
            !ed25519_r_is_acceptable_by_decompression(&enc),
            "{enc:02x?}"
        );
    }
    // random encodings: the rules agree wherever the bytes are a point at all
    let mut state = [0x42u8; 32];
    let mut points = 0;
    for _ in 0..20_000 {
        state = Sha512::digest(state)[..32].try_into().unwrap();
        let on_curve = curve25519_dalek::edwards::CompressedEdwardsY(state)
            .decompress()
            .is_some();
        if on_curve {
            points += 1;
            assert_eq!(
                ed25519_r_is_acceptable(&state),
                ed25519_r_is_acceptable_by_decompression(&state),
                "{state:02x?}"
            );
        }
    }
    assert!(points > 5_000, "{points}");
    // honest R values (multiples of the base point) are accepted by both
    for i in 1..200u64 {
        let r = (curve25519_dalek::constants::ED25519_BASEPOINT_POINT * Scalar::from(i))
            .compress()
            .to_bytes();
        assert!(ed25519_r_is_acceptable(&r));
        assert!(ed25519_r_is_acceptable_by_decompression(&r));
    }
}
