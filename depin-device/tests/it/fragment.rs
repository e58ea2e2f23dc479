//! Fragmentation and verified reassembly: round trips and every rejection case.

use depin_core::frame::{sign_frame, Frame, MAX_FRAME_LEN};
use depin_core::{KeyType, PublicKey, SigningKey, Timestamp};
use depin_device::fragment::{
    fragment_count, Fragmenter, Reassembler, FRAGMENT_HEADER_LEN, LAST_FLAG, MAX_FRAGMENTS,
    RESERVED_FLAG,
};
use depin_device::Error;
use proptest::prelude::*;

use crate::{domain, TEST_SECRET};

fn key(kt: KeyType) -> SigningKey {
    SigningKey::from_secret_bytes(kt, &TEST_SECRET).unwrap()
}

fn frame(kt: KeyType, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = sign_frame(&domain(), &key(kt), 1, seq, Timestamp(1), payload, &mut buf).unwrap();
    buf[..n].to_vec()
}

fn fragments(frame: &[u8], mtu: usize) -> Vec<Vec<u8>> {
    Fragmenter::for_frame(frame, mtu)
        .unwrap()
        .map(|f| {
            let mut out = vec![0u8; f.len()];
            assert_eq!(f.write_to(&mut out).unwrap(), f.len());
            out
        })
        .collect()
}

fn public(kt: KeyType) -> PublicKey {
    crate::test_public_key(kt)
}

/// Push fragments until one errors or a frame completes; returns the last result.
fn push_all(r: &mut Reassembler, frags: &[Vec<u8>], kt: KeyType) -> Result<Option<Vec<u8>>, Error> {
    let pk = public(kt);
    let mut last = Ok(None);
    for f in frags {
        last = r
            .push_verified(f, &domain(), &pk)
            .map(|o| o.map(|fr| fr.signed_bytes().to_vec()));
        if last.is_err() || matches!(last, Ok(Some(_))) {
            return last;
        }
    }
    last
}

#[test]
fn round_trip_lorawan_sizes() {
    for kt in KeyType::ALL {
        for payload_len in [0usize, 1, 10, 11, 100, 200] {
            let f = frame(kt, 300 + payload_len as u32, &vec![0x3c; payload_len]);
            for mtu in [7usize, 11, 51, 53, 115, 125, 222, 300] {
                let frags = fragments(&f, mtu);
                assert_eq!(frags.len(), fragment_count(f.len(), mtu).unwrap());
                assert!(frags.iter().all(|x| x.len() <= mtu));
                assert!(frags
                    .iter()
                    .all(|x| x[0] == (300 + payload_len as u32) as u8));
                let mut r = Reassembler::new();
                let pk = public(kt);
                let (body, count) = frags.split_at(frags.len() - 1);
                for (i, x) in body.iter().enumerate() {
                    assert!(r.push_verified(x, &domain(), &pk).unwrap().is_none(), "{i}");
                    assert!(r.in_progress());
                }
                let done = r.push_verified(&count[0], &domain(), &pk).unwrap().unwrap();
                assert_eq!(done.signed_bytes().len() + 64, f.len());
                assert_eq!(done.as_bytes(), &f[..], "the whole reassembled frame");
                assert_eq!(done.header.seq, 300 + payload_len as u32);
                assert!(!r.in_progress());
            }
        }
    }
}

#[test]
fn documented_fragment_counts() {
    // 88-byte minimum frame: 10 uplinks at 11 bytes, 2 at 51; 288-byte maximum: 32 / 6
    assert_eq!(fragment_count(88, 11).unwrap(), 10);
    assert_eq!(fragment_count(288, 11).unwrap(), 32);
    assert_eq!(fragment_count(88, 51).unwrap(), 2);
    assert_eq!(fragment_count(98, 51).unwrap(), 2);
    assert_eq!(fragment_count(288, 51).unwrap(), 6);
    assert_eq!(fragment_count(288, 7).unwrap(), 58);
    assert_eq!(fragment_count(288, 300).unwrap(), 1);
}

#[test]
fn too_small_radio_payloads_are_refused() {
    let f = frame(KeyType::Ed25519, 1, &[0; 200]);
    for mtu in [0usize, 1, 2] {
        assert_eq!(
            Fragmenter::new(&f, mtu, 0).unwrap_err(),
            Error::FragmentSizeTooSmall { max_payload: mtu }
        );
    }
    // 288 bytes in 4-byte chunks would need 72 > 64 fragments
    assert_eq!(
        Fragmenter::new(&f, 6, 0).unwrap_err(),
        Error::FragmentSizeTooSmall { max_payload: 6 }
    );
    assert!(Fragmenter::new(&f, 7, 0).is_ok());
    const { assert!(MAX_FRAGMENTS * (7 - FRAGMENT_HEADER_LEN) >= MAX_FRAME_LEN) };
}

#[test]
fn fragmenter_iterator_details() {
    let f = frame(KeyType::Ed25519, 0x1234, b"hello");
    let mut it = Fragmenter::for_frame(&f, 51).unwrap();
    assert_eq!(it.len(), 2);
    let first = it.next().unwrap();
    assert_eq!(
        (first.tag(), first.index(), first.is_last()),
        (0x34, 0, false)
    );
    assert_eq!(first.chunk(), &f[..49]);
    assert!(!first.is_empty());
    assert_eq!(it.len(), 1);
    let second = it.next().unwrap();
    assert_eq!((second.index(), second.is_last()), (1, true));
    assert_eq!(second.chunk(), &f[49..]);
    assert!(it.next().is_none());
    // writing into a too-small radio buffer is an error, not a panic
    let mut it = Fragmenter::new(&f, 51, 9).unwrap();
    let mut tiny = [0u8; 10];
    assert_eq!(it.next_len(), Some(51));
    assert_eq!(
        it.next_into(&mut tiny).unwrap_err(),
        Error::BufferTooSmall { needed: 51 }
    );
    // ... and consumes nothing: the same fragment goes out with a big enough buffer
    assert_eq!(it.len(), 2);
    let mut radio = [0u8; 51];
    assert_eq!(it.next_into(&mut radio).unwrap(), Some(51));
    assert_eq!(&radio[..2], &[9, 0]);
    assert_eq!(&radio[2..], &f[..49]);
    let n = it.next_into(&mut radio).unwrap().unwrap();
    assert_eq!(&radio[..2], &[9, 0x81]);
    assert_eq!(&radio[2..n], &f[49..]);
    assert_eq!(it.next_into(&mut radio).unwrap(), None);
    assert_eq!(it.next_len(), None);
    // an empty frame has no fragments
    assert_eq!(Fragmenter::new(&[], 11, 0).unwrap().count(), 0);
}

#[test]
fn missing_fragment_gap_is_rejected() {
    let f = frame(KeyType::Ed25519, 5, b"payload");
    let frags = fragments(&f, 11);
    let mut r = Reassembler::new();
    let mut lossy = frags.clone();
    lossy.remove(3);
    assert_eq!(
        push_all(&mut r, &lossy, KeyType::Ed25519),
        Err(Error::MissingFragment {
            expected: 3,
            got: 4
        })
    );
    assert!(!r.in_progress(), "partial frame discarded");
}

#[test]
fn missing_first_fragment_is_rejected() {
    let f = frame(KeyType::Ed25519, 5, b"payload");
    let frags = fragments(&f, 11);
    let mut r = Reassembler::new();
    assert_eq!(
        push_all(&mut r, &frags[1..], KeyType::Ed25519),
        Err(Error::MissingFragment {
            expected: 0,
            got: 1
        })
    );
}

#[test]
fn missing_last_fragment_then_next_frame_is_rejected() {
    let a = fragments(&frame(KeyType::Ed25519, 5, b"one"), 51);
    let b = fragments(&frame(KeyType::Ed25519, 6, b"two"), 51);
    let mut r = Reassembler::new();
    assert_eq!(push_all(&mut r, &a[..1], KeyType::Ed25519), Ok(None));
    assert_eq!(
        push_all(&mut r, &b, KeyType::Ed25519),
        Err(Error::MixedFragments {
            expected_tag: 5,
            got_tag: 6
        })
    );
    // after the error the reassembler resynchronises on the next frame
    assert!(push_all(&mut r, &b, KeyType::Ed25519).unwrap().is_some());
}

#[test]
fn duplicate_fragment_is_rejected() {
    let frags = fragments(&frame(KeyType::P256, 9, b"dup"), 11);
    let mut r = Reassembler::new();
    let mut dup = frags[..3].to_vec();
    dup.push(frags[2].clone());
    assert_eq!(
        push_all(&mut r, &dup, KeyType::P256),
        Err(Error::DuplicateFragment { index: 2 })
    );
    // a retransmitted fragment 0 mid-frame is a duplicate too
    let mut r = Reassembler::new();
    let again = vec![frags[0].clone(), frags[1].clone(), frags[0].clone()];
    assert_eq!(
        push_all(&mut r, &again, KeyType::P256),
        Err(Error::DuplicateFragment { index: 0 })
    );
}

#[test]
fn reordered_with_gap_is_rejected() {
    let frags = fragments(&frame(KeyType::Secp256k1, 9, b"order"), 11);
    let mut r = Reassembler::new();
    let swapped = vec![frags[0].clone(), frags[2].clone(), frags[1].clone()];
    assert_eq!(
        push_all(&mut r, &swapped, KeyType::Secp256k1),
        Err(Error::MissingFragment {
            expected: 1,
            got: 2
        })
    );
}

#[test]
fn mixed_up_fragments_are_rejected() {
    let a = fragments(&frame(KeyType::Ed25519, 0x10, b"aaaa"), 11);
    let b = fragments(&frame(KeyType::Ed25519, 0x11, b"bbbb"), 11);
    let mut r = Reassembler::new();
    let mixed = vec![a[0].clone(), a[1].clone(), b[2].clone()];
    assert_eq!(
        push_all(&mut r, &mixed, KeyType::Ed25519),
        Err(Error::MixedFragments {
            expected_tag: 0x10,
            got_tag: 0x11
        })
    );
}

#[test]
fn mixed_fragments_with_the_same_tag_fail_the_signature() {
    // two frames whose tags collide (seq 0x100 and 0x200 both have low byte 0):
    // splicing them passes the transport checks but never the signature check
    let a = fragments(&frame(KeyType::Ed25519, 0x100, b"aaaa"), 11);
    let b = fragments(&frame(KeyType::Ed25519, 0x200, b"bbbb"), 11);
    let mut spliced = a[..5].to_vec();
    spliced.extend_from_slice(&b[5..]);
    let mut r = Reassembler::new();
    assert_eq!(
        push_all(&mut r, &spliced, KeyType::Ed25519),
        Err(Error::Rejected(depin_core::Error::SignatureRejected))
    );
}

#[test]
fn tampered_or_foreign_frames_are_never_returned() {
    let f = frame(KeyType::Ed25519, 3, b"secret-data");
    let mut frags = fragments(&f, 51);
    frags[1][10] ^= 0x01; // flip one bit in the signature region
    let mut r = Reassembler::new();
    assert_eq!(
        push_all(&mut r, &frags, KeyType::Ed25519),
        Err(Error::Rejected(depin_core::Error::SignatureRejected))
    );
    // the right frame checked against another device's key: rejected
    let frags = fragments(&f, 51);
    let mut r = Reassembler::new();
    let other = SigningKey::from_secret_bytes(KeyType::Ed25519, &[1; 32])
        .unwrap()
        .public_key();
    let mut result = Ok(false);
    for x in &frags {
        result = r.push_verified(x, &domain(), &other).map(|o| o.is_some());
    }
    assert!(matches!(result, Err(Error::Rejected(_))));
    // and the caller's own closure can refuse (e.g. a replayed sequence number)
    let mut r = Reassembler::new();
    let mut result = Ok(false);
    for x in &frags {
        result = r
            .push(x, |fr| {
                fr.verify(&domain(), &public(KeyType::Ed25519))?;
                if fr.header.seq <= 3 {
                    return Err(depin_core::Error::InvalidFrame("replayed sequence number"));
                }
                Ok(())
            })
            .map(|o| o.is_some());
    }
    assert_eq!(
        result,
        Err(Error::Rejected(depin_core::Error::InvalidFrame(
            "replayed sequence number"
        )))
    );
}

#[test]
fn length_mismatches_are_rejected() {
    let f = frame(KeyType::Ed25519, 3, b"len");
    let frags = fragments(&f, 11);
    // LAST flag set too early (after the header is complete)
    let mut early = frags[..4].to_vec();
    early[3][1] |= LAST_FLAG;
    let mut r = Reassembler::new();
    assert_eq!(
        push_all(&mut r, &early, KeyType::Ed25519),
        Err(Error::LengthMismatch {
            declared: f.len(),
            received: 36
        })
    );
    // LAST before the header is even complete
    let mut r = Reassembler::new();
    let mut tiny = frags[0].clone();
    tiny[1] |= LAST_FLAG;
    assert_eq!(
        r.push_verified(&tiny, &domain(), &public(KeyType::Ed25519))
            .map(|o| o.is_some()),
        Err(Error::LengthMismatch {
            declared: 0,
            received: 9
        })
    );
    // more bytes than the frame declares: the last fragment is not marked LAST
    let mut long = frags.clone();
    let last = long.len() - 1;
    long[last][1] &= !LAST_FLAG;
    let mut extra = long[last].clone();
    extra[1] = (extra[1] + 1) | LAST_FLAG;
    long.push(extra);
    let last_chunk = long[last].len() - FRAGMENT_HEADER_LEN;
    let mut r = Reassembler::new();
    assert_eq!(
        push_all(&mut r, &long, KeyType::Ed25519),
        Err(Error::LengthMismatch {
            declared: f.len(),
            received: f.len() + last_chunk
        })
    );
}

#[test]
fn overlong_fragment_stream_is_rejected() {
    // a frame claiming 200 payload bytes, fed forever without LAST: the reassembler
    // stops at the declared length instead of overflowing
    let f = frame(KeyType::Ed25519, 3, &[0; 200]);
    let mut frags = fragments(&f, 11);
    for x in frags.iter_mut() {
        x[1] &= !LAST_FLAG;
    }
    let mut extra = frags[0].clone();
    extra[1] = frags.len() as u8;
    frags.push(extra);
    let mut r = Reassembler::new();
    assert!(matches!(
        push_all(&mut r, &frags, KeyType::Ed25519),
        Err(Error::LengthMismatch { declared: 288, .. })
    ));
}

#[test]
fn malformed_fragments_are_rejected() {
    let mut r = Reassembler::new();
    let pk = public(KeyType::Ed25519);
    for bad in [&[][..], &[1], &[1, 0]] {
        assert_eq!(
            r.push_verified(bad, &domain(), &pk).map(|o| o.is_some()),
            Err(Error::MalformedFragment)
        );
    }
    assert_eq!(
        r.push_verified(&[1, RESERVED_FLAG, 0xaa], &domain(), &pk)
            .map(|o| o.is_some()),
        Err(Error::MalformedFragment)
    );
    // a single fragment that is a complete but garbage frame: parse error, as Rejected
    assert!(matches!(
        r.push_verified(&[1, LAST_FLAG, 0xaa], &domain(), &pk),
        Err(Error::LengthMismatch { .. })
    ));
    let mut garbage = vec![7u8, LAST_FLAG];
    garbage.extend_from_slice(&[0u8; 88]); // version 0
    assert_eq!(
        r.push_verified(&garbage, &domain(), &pk)
            .map(|o| o.is_some()),
        Err(Error::Rejected(depin_core::Error::InvalidFrame(
            "unsupported frame version"
        )))
    );
}

#[test]
fn reset_drops_partial_frames() {
    let frags = fragments(&frame(KeyType::Ed25519, 3, b"x"), 11);
    let mut r = Reassembler::default();
    assert_eq!(push_all(&mut r, &frags[..2], KeyType::Ed25519), Ok(None));
    r.reset();
    assert!(!r.in_progress());
    assert!(push_all(&mut r, &frags, KeyType::Ed25519)
        .unwrap()
        .is_some());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Reassembly never panics on arbitrary fragment sequences, and never returns a
    /// frame that is not the genuine one.
    #[test]
    fn reassembly_never_panics(frags in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..80), 0..40)) {
        let mut r = Reassembler::new();
        let pk = public(KeyType::Ed25519);
        for f in &frags {
            if let Ok(Some(fr)) = r.push_verified(f, &domain(), &pk) {
                // only reachable with a valid signature, which random bytes never have
                prop_assert!(fr.verify(&domain(), &pk).is_ok());
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Arbitrary corruption of a genuine fragment stream (drop, duplicate, swap, bit
    /// flips) never panics, and whatever comes out verifies.
    #[test]
    fn corrupted_streams_never_yield_bad_frames(
        seq in any::<u32>(), payload_len in 0usize..=200, mtu in 7usize..=60,
        ops in proptest::collection::vec((0u8..4, any::<u16>(), any::<u8>()), 0..6)) {
        let f = frame(KeyType::Ed25519, seq, &vec![0x11; payload_len]);
        let mut frags = fragments(&f, mtu);
        for (op, pos, bit) in ops {
            let i = usize::from(pos) % frags.len();
            match op {
                0 => { frags.remove(i); if frags.is_empty() { break; } }
                1 => { let x = frags[i].clone(); frags.insert(i, x); }
                2 => { let j = usize::from(bit) % frags.len(); frags.swap(i, j); }
                _ => { let len = frags[i].len(); frags[i][usize::from(bit) % len] ^= 1 << (bit % 8); }
            }
        }
        let mut r = Reassembler::new();
        let pk = public(KeyType::Ed25519);
        for x in &frags {
            if let Ok(Some(fr)) = r.push_verified(x, &domain(), &pk) {
                let mut whole = fr.signed_bytes().to_vec();
                whole.extend_from_slice(fr.signature_bytes());
                prop_assert_eq!(&whole, &f);
            }
        }
    }

    #[test]
    fn fragment_round_trip(seq in any::<u32>(), payload_len in 0usize..=200, mtu in 7usize..=300) {
        let f = frame(KeyType::Ed25519, seq, &vec![0x22; payload_len]);
        let frags = fragments(&f, mtu);
        let mut r = Reassembler::new();
        let got = push_all(&mut r, &frags, KeyType::Ed25519).unwrap().unwrap();
        prop_assert_eq!(&got[..], &f[..f.len() - 64]);
        prop_assert!(Frame::parse(&f).is_ok());
    }
}
