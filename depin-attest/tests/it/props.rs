//! Property tests: no decoder panics on arbitrary bytes, and no mutation of a valid
//! message is ever accepted.

use depin_attest::{DenyList, Envelope, Input};
use proptest::prelude::*;

use crate::common::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn envelope_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Envelope::decode(&bytes, 64 * 1024);
    }

    #[test]
    fn deny_list_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let k = key(1).public_key();
        let _ = DenyList::verify_signed(&bytes, &domain(), &k);
    }

    #[test]
    fn pipeline_never_panics_and_rejects_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let net = Net::new(2);
        let mut v = net.verifier();
        let r = v.verify_batch(&[Input::Frame(&bytes), Input::Envelope(&bytes)], NOW);
        prop_assert!(r.iter().all(|x| x.is_err()));
    }

    #[test]
    fn mutated_frames_are_never_accepted(pos in 0usize..400, xor in 1u8..=255) {
        let net = Net::new(1);
        let mut v = net.verifier();
        let mut f = frame(&net.keys[0], 1);
        let i = pos % f.len();
        f[i] ^= xor;
        prop_assert!(v.verify_one(Input::Frame(&f), NOW).is_err());
    }

    #[test]
    fn mutated_envelopes_are_never_accepted(pos in 0usize..400, xor in 1u8..=255, kind in 0usize..4) {
        let net = Net::new(1);
        let mut v = net.verifier();
        let a = match kind {
            0 => reading(42),
            1 => beacon(0.0),
            2 => witness(2_000.0, -1000),
            _ => crate::common::Attestation::BandwidthTest(depin_attest::types::BandwidthTest {
                download_bps: 1, upload_bps: 2, latency_ms: 3, challenge: [0; 32],
            }),
        };
        let mut e = envelope(&net.keys[0], 1, a);
        let i = pos % e.len();
        e[i] ^= xor;
        prop_assert!(v.verify_one(Input::Envelope(&e), NOW).is_err());
    }

    #[test]
    fn envelopes_round_trip(seq in any::<u64>(), wh in any::<u64>()) {
        let k = key(3);
        let bytes = envelope(&k, seq, reading(wh));
        let e = Envelope::decode(&bytes, 64 * 1024).unwrap();
        prop_assert_eq!(e.body.seq, seq);
        prop_assert_eq!(e.to_bytes().unwrap(), bytes);
    }
}
