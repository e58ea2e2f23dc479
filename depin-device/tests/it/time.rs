//! Time grants: the network's signed time for a device nonce, and the device clock.

use depin_core::{Domain, KeyType, MessageKind, NetworkId, SigningKey, Timestamp};
use depin_device::signer::{Ed25519Signer, P256Signer, Secp256k1Signer, Signer};
use depin_device::time::{
    grant_time, request_nonce, verify_grant, Clock, GRANT_LEN, GRANT_SIGNED_LEN,
};
use depin_device::Error;
use proptest::prelude::*;

const NOW: Timestamp = Timestamp(1_796_083_200_000);

fn domain() -> Domain {
    Domain::new(NetworkId::new("time-net").unwrap())
}

fn grant_with(kt: KeyType, nonce: &[u8; 16], now: Timestamp) -> ([u8; GRANT_LEN], SigningKey) {
    let key = || SigningKey::from_secret_bytes(kt, &[0x42; 32]).unwrap();
    let mut out = [0u8; GRANT_LEN];
    match kt {
        KeyType::Ed25519 => grant_time(
            &mut Ed25519Signer::new(key()).unwrap(),
            &domain(),
            nonce,
            now,
            &mut out,
        ),
        KeyType::Secp256k1 => grant_time(
            &mut Secp256k1Signer::new(key()).unwrap(),
            &domain(),
            nonce,
            now,
            &mut out,
        ),
        KeyType::P256 => grant_time(
            &mut P256Signer::new(key()).unwrap(),
            &domain(),
            nonce,
            now,
            &mut out,
        ),
    }
    .unwrap();
    (out, key())
}

#[test]
fn grants_verify_for_every_network_key_type_and_layout_is_as_documented() {
    let nonce = request_nonce(&[1, 2, 3, 4, 5, 6, 7, 8], 0x0a0b_0c0d);
    assert_eq!(
        nonce,
        [1, 2, 3, 4, 5, 6, 7, 8, 0x0d, 0x0c, 0x0b, 0x0a, 0, 0, 0, 0]
    );
    for kt in KeyType::ALL {
        let (grant, key) = grant_with(kt, &nonce, NOW);
        assert_eq!(grant[0], 1, "version");
        assert_eq!(grant[1], kt.tag());
        assert_eq!(&grant[2..18], &nonce);
        assert_eq!(&grant[18..26], &NOW.0.to_le_bytes());
        // the signature is over Domain::digest(TIME_GRANT, bytes[0..26])
        let digest = domain().digest(MessageKind::TIME_GRANT, &grant[..GRANT_SIGNED_LEN]);
        let sig = depin_core::Signature::from_bytes(kt, &grant[26..]).unwrap();
        key.public_key().verify_prehash(&digest, &sig).unwrap();
        assert_eq!(
            verify_grant(&grant, &domain(), &key.public_key(), &nonce).unwrap(),
            NOW
        );
        let clock = Clock::from_grant(&grant, &domain(), &key.public_key(), &nonce, 5_000).unwrap();
        assert_eq!(clock.now(5_000), NOW);
        assert_eq!(clock.now(65_000), Timestamp(NOW.0 + 60_000));
        // an uptime reading from before the sync never goes back in time
        assert_eq!(clock.now(0), NOW);
    }
}

#[test]
fn replays_foreign_networks_other_keys_and_tampering_are_refused() {
    let nonce = request_nonce(&[9; 8], 7);
    let (grant, key) = grant_with(KeyType::P256, &nonce, NOW);
    let pk = key.public_key();
    // answers another nonce: a replay of an old grant
    assert_eq!(
        verify_grant(&grant, &domain(), &pk, &request_nonce(&[9; 8], 8)),
        Err(Error::NonceMismatch)
    );
    // another network's domain
    let other = Domain::new(NetworkId::new("other-net").unwrap());
    assert!(matches!(
        verify_grant(&grant, &other, &pk, &nonce),
        Err(Error::Rejected(_))
    ));
    // another key (of the same and of another type)
    for kt in KeyType::ALL {
        let stranger = SigningKey::from_secret_bytes(kt, &[0x43; 32]).unwrap();
        assert!(matches!(
            verify_grant(&grant, &domain(), &stranger.public_key(), &nonce),
            Err(Error::Rejected(_))
        ));
    }
    // any flipped bit of the signed part or the signature
    for i in 0..GRANT_LEN {
        if (2..18).contains(&i) {
            continue; // the nonce: NonceMismatch, checked above
        }
        let mut bad = grant;
        bad[i] ^= 0x01;
        assert!(
            verify_grant(&bad, &domain(), &pk, &nonce).is_err(),
            "flipped byte {i} accepted"
        );
    }
    // the same bytes signed as another message kind do not pass as a grant
    let digest = domain().digest(MessageKind::CHALLENGE_RESPONSE, &grant[..GRANT_SIGNED_LEN]);
    let mut signer = P256Signer::new(key).unwrap();
    let mut forged = grant;
    forged[GRANT_SIGNED_LEN..].copy_from_slice(&signer.sign_digest(&digest).unwrap());
    assert!(matches!(
        verify_grant(&forged, &domain(), &pk, &nonce),
        Err(Error::Rejected(_))
    ));
    // wrong lengths and versions are malformed
    assert!(matches!(
        verify_grant(&grant[..GRANT_LEN - 1], &domain(), &pk, &nonce),
        Err(Error::Malformed(_))
    ));
    let mut longer = grant.to_vec();
    longer.push(0);
    assert!(matches!(
        verify_grant(&longer, &domain(), &pk, &nonce),
        Err(Error::Malformed(_))
    ));
    let mut v2 = grant;
    v2[0] = 2;
    assert!(matches!(
        verify_grant(&v2, &domain(), &pk, &nonce),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn nonces_from_distinct_sequence_numbers_never_collide() {
    let hint = [0xaa; 8];
    let mut seen = std::collections::HashSet::new();
    for seq in (0..10_000u32).chain([u32::MAX - 1]) {
        assert!(seen.insert(request_nonce(&hint, seq)));
    }
    assert_ne!(request_nonce(&[1; 8], 5), request_nonce(&[2; 8], 5));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[0x42; 32]).unwrap();
        let nonce: [u8; 16] = bytes.get(2..18).and_then(|n| n.try_into().ok()).unwrap_or([0; 16]);
        prop_assert!(verify_grant(&bytes, &domain(), &key.public_key(), &nonce).is_err());
    }
}
