//! Challenge-response: accepted for the issued nonce and measurement only.

use depin_core::{frame::sign_frame, KeyType, MessageKind, NetworkId, Timestamp};
use depin_device::challenge::{
    respond, verify_response, ChallengeResponse, MAX_MEASUREMENT_LEN, MAX_RESPONSE_LEN,
    RESPONSE_HEADER_LEN, RESPONSE_OVERHEAD,
};
use depin_device::signer::Signer;
use depin_device::Error;
use proptest::prelude::*;

use crate::{domain, AnySigner, TEST_SECRET};

const NONCE: [u8; 16] = *b"network-nonce-01";

fn response(kt: KeyType, nonce: &[u8; 16], measurement: &[u8]) -> (Vec<u8>, AnySigner) {
    let mut signer = AnySigner::new(kt, &TEST_SECRET);
    let mut out = [0u8; MAX_RESPONSE_LEN];
    let n = respond(&mut signer, &domain(), nonce, measurement, &mut out).unwrap();
    assert_eq!(n, RESPONSE_OVERHEAD + measurement.len());
    (out[..n].to_vec(), signer)
}

#[test]
fn accepted_for_every_key_type() {
    for kt in KeyType::ALL {
        for m in [&b""[..], b"rssi=-97", &[9; MAX_MEASUREMENT_LEN]] {
            let (bytes, signer) = response(kt, &NONCE, m);
            let r = verify_response(&bytes, &domain(), &signer.public_key(), &NONCE).unwrap();
            assert_eq!(r.measurement, m);
            assert_eq!(r.nonce, NONCE);
            assert_eq!(r.key_type, kt);
            assert_eq!(r.key_hint, signer.key_hint());
            assert_eq!(r.signed_bytes().len(), RESPONSE_HEADER_LEN + m.len());
            assert_eq!(r.signature_bytes().len(), 64);
        }
    }
}

#[test]
fn wrong_nonce_is_rejected() {
    for kt in KeyType::ALL {
        let (bytes, signer) = response(kt, &NONCE, b"rssi=-97");
        let mut other = NONCE;
        other[15] ^= 1;
        assert_eq!(
            verify_response(&bytes, &domain(), &signer.public_key(), &other).unwrap_err(),
            Error::NonceMismatch
        );
        // rewriting the echoed nonce to the expected one breaks the signature
        let (bytes, _) = response(kt, &other, b"rssi=-97");
        let mut forged = bytes.clone();
        forged[10..26].copy_from_slice(&NONCE);
        assert_eq!(
            verify_response(&forged, &domain(), &signer.public_key(), &NONCE).unwrap_err(),
            Error::Rejected(depin_core::Error::SignatureRejected)
        );
    }
}

#[test]
fn other_measurement_is_rejected() {
    for kt in KeyType::ALL {
        let (bytes, signer) = response(kt, &NONCE, b"rssi=-97");
        let mut forged = bytes.clone();
        forged[27..35].copy_from_slice(b"rssi=-40");
        assert_eq!(
            verify_response(&forged, &domain(), &signer.public_key(), &NONCE).unwrap_err(),
            Error::Rejected(depin_core::Error::SignatureRejected)
        );
        // the signature of one measurement grafted onto another
        let (other, _) = response(kt, &NONCE, b"rssi=-40");
        let mut graft = other[..35].to_vec();
        graft.extend_from_slice(&bytes[35..]);
        assert!(matches!(
            verify_response(&graft, &domain(), &signer.public_key(), &NONCE),
            Err(Error::Rejected(_))
        ));
    }
}

#[test]
fn wrong_key_domain_or_kind_is_rejected() {
    let (bytes, signer) = response(KeyType::Ed25519, &NONCE, b"m");
    let other_key = AnySigner::new(KeyType::Ed25519, &[1; 32]).public_key();
    assert!(matches!(
        verify_response(&bytes, &domain(), &other_key, &NONCE),
        Err(Error::Rejected(depin_core::Error::InvalidFrame(_)))
    ));
    let p256 = AnySigner::new(KeyType::P256, &TEST_SECRET).public_key();
    assert!(matches!(
        verify_response(&bytes, &domain(), &p256, &NONCE),
        Err(Error::Rejected(depin_core::Error::KeyTypeMismatch { .. }))
    ));
    let other_net = depin_core::Domain::new(NetworkId::new("other-net").unwrap());
    assert_eq!(
        verify_response(&bytes, &other_net, &signer.public_key(), &NONCE).unwrap_err(),
        Error::Rejected(depin_core::Error::SignatureRejected)
    );
    // the signature is bound to CHALLENGE_RESPONSE: the same bytes signed as another
    // kind do not verify
    let r = ChallengeResponse::parse(&bytes).unwrap();
    let sig = depin_core::Signature::from_bytes(KeyType::Ed25519, r.signature_bytes()).unwrap();
    assert!(domain()
        .verify(
            &signer.public_key(),
            MessageKind::REPORT_FRAME,
            r.signed_bytes(),
            &sig
        )
        .is_err());
    // a report frame is never accepted as a challenge response
    let key = depin_core::SigningKey::from_secret_bytes(KeyType::Ed25519, &TEST_SECRET).unwrap();
    let mut f = [0u8; 300];
    let n = sign_frame(&domain(), &key, 1, 1, Timestamp(0), &[0; 3], &mut f).unwrap();
    assert!(verify_response(&f[..n], &domain(), &signer.public_key(), &NONCE).is_err());
}

#[test]
fn size_and_parse_errors() {
    let mut signer = AnySigner::new(KeyType::Ed25519, &TEST_SECRET);
    let mut out = [0u8; MAX_RESPONSE_LEN];
    assert_eq!(
        respond(&mut signer, &domain(), &NONCE, &[0; 129], &mut out).unwrap_err(),
        Error::TooLong {
            len: 129,
            limit: 128
        }
    );
    assert_eq!(
        respond(&mut signer, &domain(), &NONCE, &[0; 300], &mut out).unwrap_err(),
        Error::TooLong {
            len: 300,
            limit: 128
        }
    );
    let mut small = [0u8; 92];
    assert_eq!(
        respond(&mut signer, &domain(), &NONCE, b"ab", &mut small).unwrap_err(),
        Error::BufferTooSmall { needed: 93 }
    );
    let (bytes, _) = response(KeyType::Ed25519, &NONCE, b"ab");
    let parse = |b: &[u8]| ChallengeResponse::parse(b).map(|_| ());
    assert!(matches!(parse(&bytes[..10]), Err(Error::Malformed(_))));
    assert!(matches!(
        parse(&bytes[..bytes.len() - 1]),
        Err(Error::Malformed(_))
    ));
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(parse(&long), Err(Error::Malformed(_))));
    assert!(matches!(parse(&[0; 400]), Err(Error::TooLong { .. })));
    let mut v = bytes.clone();
    v[0] = 2;
    assert!(matches!(parse(&v), Err(Error::Malformed(_))));
    let mut k = bytes.clone();
    k[1] = 9;
    assert_eq!(
        parse(&k),
        Err(Error::Core(depin_core::Error::UnknownKeyType(9)))
    );
    let mut m = bytes.clone();
    m[26] = 200;
    assert!(matches!(parse(&m), Err(Error::Malformed(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(r) = ChallengeResponse::parse(&bytes) {
            prop_assert_eq!(r.signed_bytes().len() + 64, bytes.len());
            let key = crate::test_public_key(r.key_type);
            prop_assert!(r.verify(&domain(), &key, &r.nonce).is_err());
        }
    }
}
