//! Report frames: encode with the device code, decode and verify with the network code.

use depin_core::frame::{sign_frame, Frame, FRAME_OVERHEAD, MAX_FRAME_LEN, MAX_PAYLOAD_LEN};
use depin_core::{KeyType, SigningKey, Timestamp};
use depin_device::counter::{RamStorage, SequenceCounter};
use depin_device::signer::{ErrorKind, ErrorType, Signer};
use depin_device::{frame_header, frame_len, write_frame, Error, Reporter};
use proptest::prelude::*;

use crate::{domain, AnySigner, TEST_SECRET};

#[test]
fn round_trip_every_key_type() {
    for kt in KeyType::ALL {
        let signer = AnySigner::new(kt, &TEST_SECRET);
        let public = signer.public_key();
        let counter = SequenceCounter::new(RamStorage::with_value(1000), 16).unwrap();
        let mut reporter = Reporter::new(signer, counter, domain());
        for (i, payload) in [&b""[..], b"temp=21.5C", &[0xa5; MAX_PAYLOAD_LEN]]
            .into_iter()
            .enumerate()
        {
            let mut buf = [0u8; MAX_FRAME_LEN];
            let ts = Timestamp(1_700_000_000_000 + i as u64);
            let report = reporter.report(0x42, ts, payload, &mut buf).unwrap();
            assert_eq!(report.len, FRAME_OVERHEAD + payload.len());
            assert_eq!(report.len, frame_len(payload.len()));
            assert_eq!(report.seq, 1000 + i as u32);
            let bytes = &buf[..report.len];
            let frame = Frame::parse(bytes).unwrap();
            frame.verify(&domain(), &public).unwrap();
            assert_eq!(frame.header.kind, 0x42);
            assert_eq!(frame.header.key_type, kt);
            assert_eq!(frame.header.seq, report.seq);
            assert_eq!(frame.header.timestamp, ts);
            assert_eq!(frame.payload, payload);

            // byte-identical to depin-core's reference encoder with the same key
            // (deterministic signatures), so device and network agree on every byte
            let key = SigningKey::from_secret_bytes(kt, &TEST_SECRET).unwrap();
            let mut reference = [0u8; MAX_FRAME_LEN];
            let n = sign_frame(
                &domain(),
                &key,
                0x42,
                report.seq,
                ts,
                payload,
                &mut reference,
            )
            .unwrap();
            assert_eq!(&reference[..n], bytes, "{kt}");
        }
    }
}

#[test]
fn write_frame_with_explicit_header() {
    let mut signer = AnySigner::new(KeyType::P256, &TEST_SECRET);
    let header = frame_header(&signer, 7, 99, Timestamp(5));
    let mut buf = [0u8; 120];
    let n = write_frame(&mut signer, &domain(), &header, b"abc", &mut buf).unwrap();
    let frame = Frame::parse(&buf[..n]).unwrap();
    assert_eq!(frame.header, header);
    frame.verify(&domain(), &signer.public_key()).unwrap();
    // a header naming another key is signed but refused by the network
    let other = AnySigner::new(KeyType::P256, &[7; 32]);
    let wrong = frame_header(&other, 7, 99, Timestamp(5));
    let n = write_frame(&mut signer, &domain(), &wrong, b"abc", &mut buf).unwrap();
    assert!(Frame::parse(&buf[..n])
        .unwrap()
        .verify(&domain(), &signer.public_key())
        .is_err());
}

#[test]
fn size_errors_cost_no_sequence_number() {
    let signer = AnySigner::new(KeyType::Ed25519, &TEST_SECRET);
    let counter = SequenceCounter::new(RamStorage::new(), 4).unwrap();
    let mut reporter = Reporter::new(signer, counter, domain());
    let mut buf = [0u8; MAX_FRAME_LEN];
    assert_eq!(
        reporter
            .report(1, Timestamp(0), &[0; MAX_PAYLOAD_LEN + 1], &mut buf)
            .unwrap_err(),
        Error::TooLong {
            len: MAX_PAYLOAD_LEN + 1,
            limit: MAX_PAYLOAD_LEN
        }
    );
    let mut small = [0u8; FRAME_OVERHEAD + 2];
    assert_eq!(
        reporter
            .report(1, Timestamp(0), b"abc", &mut small)
            .unwrap_err(),
        Error::BufferTooSmall {
            needed: FRAME_OVERHEAD + 3
        }
    );
    assert_eq!(reporter.counter().peek(), 0);
    assert_eq!(
        reporter
            .report(1, Timestamp(0), b"abc", &mut buf)
            .unwrap()
            .seq,
        0
    );
    // write_frame checks the same
    let mut s = AnySigner::new(KeyType::Ed25519, &TEST_SECRET);
    let h = frame_header(&s, 1, 1, Timestamp(0));
    assert!(matches!(
        write_frame(&mut s, &domain(), &h, b"abc", &mut small),
        Err(Error::BufferTooSmall { .. })
    ));
}

/// A signer that fails like a secure element with a bus error.
struct FailingSigner(AnySigner);

impl ErrorType for FailingSigner {
    type Error = ErrorKind;
}

impl Signer for FailingSigner {
    fn device_id(&self) -> depin_core::DeviceId {
        self.0.device_id()
    }
    fn sign_digest(&mut self, _: &[u8; 32]) -> Result<[u8; 64], ErrorKind> {
        Err(ErrorKind::Busy)
    }
}

#[test]
fn signer_failure_is_typed_and_burns_the_number() {
    let signer = FailingSigner(AnySigner::new(KeyType::Ed25519, &TEST_SECRET));
    let counter = SequenceCounter::new(RamStorage::new(), 4).unwrap();
    let mut reporter = Reporter::new(signer, counter, domain());
    let mut buf = [0u8; MAX_FRAME_LEN];
    assert_eq!(
        reporter
            .report(1, Timestamp(0), b"x", &mut buf)
            .unwrap_err(),
        Error::Signer(ErrorKind::Busy)
    );
    // the number was taken before signing and is never reused
    assert_eq!(reporter.counter().peek(), 1);
    let (_, counter, d) = reporter.into_parts();
    assert_eq!(d, domain());
    assert_eq!(counter.into_storage().value(), Some(4));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The network decoder never panics on arbitrary bytes.
    #[test]
    fn frame_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(frame) = Frame::parse(&bytes) {
            prop_assert_eq!(frame.signed_bytes().len() + 64, bytes.len());
            prop_assert_eq!(frame.payload.len(), usize::from(bytes[23]));
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Frames that decode are always rejected unless genuinely signed.
    #[test]
    fn random_frames_do_not_verify(mut bytes in proptest::collection::vec(any::<u8>(), 88..=288)) {
        bytes[0] = 1;
        bytes[2] %= 3;
        bytes[23] = (bytes.len() - 88) as u8;
        let frame = Frame::parse(&bytes).unwrap();
        let key = crate::test_public_key(KeyType::ALL[usize::from(bytes[2])]);
        prop_assert!(frame.verify(&domain(), &key).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn round_trip_random(kt in 0usize..3, kind in any::<u8>(), seq in any::<u32>(),
                         ts in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 0..=200)) {
        let mut signer = AnySigner::new(KeyType::ALL[kt], &TEST_SECRET);
        let header = frame_header(&signer, kind, seq, Timestamp(ts));
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = write_frame(&mut signer, &domain(), &header, &payload, &mut buf).unwrap();
        let frame = Frame::parse(&buf[..n]).unwrap();
        prop_assert_eq!(frame.header, header);
        prop_assert_eq!(frame.payload, &payload[..]);
        prop_assert!(frame.verify(&domain(), &signer.public_key()).is_ok());
    }
}
