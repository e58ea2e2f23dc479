//! Report frames: round trip for every key type, tampering, malformed input.

use depin_core::frame::{self, Frame, FRAME_OVERHEAD, MAX_FRAME_LEN};
use depin_core::{Domain, Error, KeyType, NetworkId, Timestamp};

use crate::test_key;

fn domain() -> Domain {
    Domain::new(NetworkId::new("frames").unwrap())
}

#[test]
fn round_trip_every_key_type() {
    for kt in KeyType::ALL {
        let key = test_key(kt, 33);
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = frame::sign_frame(
            &domain(),
            &key,
            7,
            42,
            Timestamp(1_700_000_000_000),
            b"temp=21.5",
            &mut buf,
        )
        .unwrap();
        assert_eq!(n, FRAME_OVERHEAD + 9);
        let f = Frame::parse(&buf[..n]).unwrap();
        assert_eq!(f.header.kind, 7);
        assert_eq!(f.header.seq, 42);
        assert_eq!(f.header.key_type, kt);
        assert_eq!(f.header.timestamp, Timestamp(1_700_000_000_000));
        assert_eq!(f.payload, b"temp=21.5");
        assert_eq!(f.as_bytes(), &buf[..n]);
        f.verify(&domain(), &key.public_key()).unwrap();
        // another network refuses it
        let other = Domain::new(NetworkId::new("other").unwrap());
        assert!(f.verify(&other, &key.public_key()).is_err());
        // another key of the same type is refused (hint mismatch)
        assert!(f.verify(&domain(), &test_key(kt, 34).public_key()).is_err());
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    for kt in KeyType::ALL {
        let key = test_key(kt, 35);
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = frame::sign_frame(&domain(), &key, 1, 1, Timestamp(5), b"x", &mut buf).unwrap();
        for bit in 0..n * 8 {
            let mut bad = buf;
            bad[bit / 8] ^= 1 << (bit % 8);
            let ok = Frame::parse(&bad[..n]).and_then(|f| f.verify(&domain(), &key.public_key()));
            assert!(ok.is_err(), "{kt} bit {bit} flipped still verifies");
        }
    }
}

#[test]
fn malformed_frames() {
    let key = test_key(KeyType::Ed25519, 36);
    let mut buf = [0u8; MAX_FRAME_LEN + 8];
    let n = frame::sign_frame(&domain(), &key, 1, 1, Timestamp(5), b"abc", &mut buf).unwrap();
    assert_eq!(Frame::parse(&buf[..n - 1]).unwrap_err(), Error::Truncated);
    assert_eq!(
        Frame::parse(&buf[..n + 1]).unwrap_err(),
        Error::TrailingBytes { extra: 1 }
    );
    assert!(matches!(
        Frame::parse(&buf[..]),
        Err(Error::TooLarge { .. })
    ));
    let mut v = buf;
    v[0] = 2;
    assert_eq!(
        Frame::parse(&v[..n]).unwrap_err(),
        Error::InvalidFrame("unsupported frame version")
    );
    let mut t = buf;
    t[2] = 9;
    assert_eq!(Frame::parse(&t[..n]).unwrap_err(), Error::UnknownKeyType(9));
    assert_eq!(Frame::parse(&[]).unwrap_err(), Error::Truncated);
    // payload too long to encode
    assert!(frame::sign_frame(&domain(), &key, 1, 1, Timestamp(5), &[0u8; 201], &mut buf).is_err());
    // buffer too small
    assert!(matches!(
        frame::sign_frame(&domain(), &key, 1, 1, Timestamp(5), b"abc", &mut [0u8; 10]),
        Err(Error::BufferTooSmall { .. })
    ));
}
