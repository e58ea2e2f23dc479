//! Property tests: no decoder panics on arbitrary bytes, and no mutation of a valid
//! message is ever accepted.

use depin_attest::{builtin_kinds, DenyList, Envelope, Input, Label, Rejection};
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

    #[test]
    fn every_builtin_kind_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for k in builtin_kinds() {
            let _ = k.decode(&bytes);
        }
    }

    #[test]
    fn envelopes_of_any_kind_number_are_refused_or_decoded_strictly(
        kind in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        seq in 1u64..1000,
    ) {
        // a validly signed envelope with any kind number and any payload: never accepted
        // unless it is a registered kind whose decoder takes the bytes; never a panic
        let net = Net::new(1);
        let mut v = net.verifier();
        let body = depin_attest::EnvelopeBody {
            signer: net.id(0),
            seq,
            timestamp: NOW,
            kind: depin_attest::AttestationKind(kind),
            payload: payload.clone(),
        };
        let e = Envelope::sign(&domain(), &net.keys[0], &body).unwrap();
        let verdict = v.verify_one(Input::Envelope(&e), NOW);
        let known = builtin_kinds().into_iter().find(|k| k.kind().0 == kind);
        match (&verdict, known) {
            (Err(Rejection::UnknownKind), None) => {}
            (_, None) => prop_assert!(false, "unknown kind {kind:#x} gave {verdict:?}"),
            (Ok(_), Some(k)) => prop_assert!(k.decode(&payload).is_ok()),
            (Err(_), Some(_)) => {}
        }
    }

    #[test]
    fn labels_parse_exactly_the_valid_ones(s in "[a-zA-Z0-9_/ -]{0,40}") {
        let valid = !s.is_empty()
            && s.len() <= 31
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        match Label::parse(&s) {
            Ok(l) => {
                prop_assert!(valid);
                prop_assert_eq!(l.as_str(), s.as_str());
                let json = serde_json::to_string(&l).unwrap();
                prop_assert_eq!(serde_json::from_str::<Label>(&json).unwrap(), l);
            }
            Err(_) => prop_assert!(!valid),
        }
    }

    #[test]
    fn rejection_codes_never_panic_and_round_trip(s in "[a-z_/]{0,70}") {
        if let Ok(r) = s.parse::<Rejection>() {
            prop_assert_eq!(r.code(), s.as_str());
            let json = serde_json::to_string(&r).unwrap();
            prop_assert_eq!(serde_json::from_str::<Rejection>(&json).unwrap(), r);
        }
    }
}
