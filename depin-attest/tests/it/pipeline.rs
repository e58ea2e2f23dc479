//! Frames and envelopes through the whole pipeline: replay, domains, malleability,
//! weak keys, size limits, registry, freshness, deny lists, reports.

use depin_attest::deny::DenyList;
use depin_attest::{DeviceRecord, DeviceStatus, Input, KindSet, Outcome, Rejection, Verifier};
use depin_core::frame::{attach_signature, encode_unsigned, FrameHeader, MAX_FRAME_LEN};
use depin_core::{DeviceId, Domain, Epoch, KeyType, MessageKind, NetworkId, SigningKey, Timestamp};

use crate::common::*;

const DAY: u64 = 86_400_000;

#[test]
fn valid_frames_are_accepted_and_counted() {
    let net = Net::new(3);
    let mut v = net.verifier();
    let inputs: Vec<Vec<u8>> = net.keys.iter().map(|k| frame(k, 1)).collect();
    let verdicts = v.verify_batch(&frames(&inputs), NOW);
    for (i, verdict) in verdicts.iter().enumerate() {
        let a = verdict.as_ref().unwrap();
        assert_eq!(a.device, net.id(i));
        assert_eq!(a.outcome, Outcome::Report { report_kind: 7 });
        assert_eq!(a.seq, 1);
    }
    let epoch = net.config.schedule.epoch_of(NOW).unwrap();
    let report = v.report(epoch).unwrap();
    assert_eq!(report.accepted_total(), 3);
    assert_eq!(report.rejected_total(), 0);
    assert!(report.to_string().contains("device_report"));
    let json = serde_json::to_string(report).unwrap();
    let back: depin_attest::EpochReport = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, report);
}

#[test]
fn replay_in_the_same_epoch_is_rejected() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let f = frame(&net.keys[0], 5);
    assert!(v.verify_one(Input::Frame(&f), NOW).is_ok());
    assert_eq!(
        v.verify_one(Input::Frame(&f), NOW),
        Err(Rejection::Replayed)
    );
    // twice in one batch: first wins
    let g = frame(&net.keys[0], 6);
    let r = v.verify_batch(&[Input::Frame(&g), Input::Frame(&g)], NOW);
    assert_eq!(reasons(&r), vec![None, Some(Rejection::Replayed)]);
    let epoch = net.config.schedule.epoch_of(NOW).unwrap();
    assert_eq!(
        v.report(epoch).unwrap().rejected_for(Rejection::Replayed),
        2
    );
}

#[test]
fn replay_in_the_next_epoch_is_rejected() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let f = frame(&net.keys[0], 5);
    assert!(v.verify_one(Input::Frame(&f), NOW).is_ok());
    let tomorrow = Timestamp(NOW.0 + DAY);
    // default freshness window: too old
    assert_eq!(
        v.verify_one(Input::Frame(&f), tomorrow),
        Err(Rejection::Stale)
    );
    // even with a freshness window wide enough, the replay window catches it
    let mut net2 = Net::new(1);
    net2.config.max_age_ms = 2 * DAY;
    let mut v2 = net2.verifier();
    assert!(v2.verify_one(Input::Frame(&f), NOW).is_ok());
    assert_eq!(
        v2.verify_one(Input::Frame(&f), tomorrow),
        Err(Rejection::Replayed)
    );
    let e1 = net2.config.schedule.epoch_of(tomorrow).unwrap();
    assert_eq!(v2.report(e1).unwrap().rejected_for(Rejection::Replayed), 1);
    assert_eq!(v2.report(Epoch(e1.0 - 1)).unwrap().accepted_total(), 1);
}

#[test]
fn reordering_within_the_window_is_tolerated() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let k = &net.keys[0];
    let seqs = [200u32, 150, 199, 73, 150, 72, 201];
    let inputs: Vec<Vec<u8>> = seqs.iter().map(|s| frame(k, *s)).collect();
    let r = v.verify_batch(&frames(&inputs), NOW);
    // 73 = 200 - 127 is the oldest number in a 128-wide window; 72 is outside
    assert_eq!(
        reasons(&r),
        vec![
            None,
            None,
            None,
            None,
            Some(Rejection::Replayed),
            Some(Rejection::Replayed),
            None
        ]
    );
}

#[test]
fn frame_and_envelope_sequences_are_separate() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let f = frame(&net.keys[0], 1);
    let e = envelope(&net.keys[0], 1, reading(10));
    let r = v.verify_batch(&[Input::Frame(&f), Input::Envelope(&e)], NOW);
    assert_eq!(reasons(&r), vec![None, None]);
}

#[test]
fn signature_for_another_network_kind_or_chain_is_rejected() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let k = &net.keys[0];
    let other_net = Domain::new(NetworkId::new("other-net").unwrap());
    let f1 = frame_with(&other_net, k, 1, NOW, b"x");
    let f2 = frame_with(&domain().with_chain_id(1), k, 2, NOW, b"x");
    // an envelope body signed as another kind
    let body = reading(5).body(id(k), 3, NOW);
    let mut e = depin_core::encoding::encode(&body).unwrap();
    let sig = domain().sign(k, MessageKind::BANDWIDTH_TEST, &e).unwrap();
    e.extend_from_slice(&sig.to_bytes());
    // an envelope signed for another chain
    let mut e2 = depin_core::encoding::encode(&body).unwrap();
    let sig = domain()
        .with_chain_id(5)
        .sign(k, MessageKind::ENERGY_READING, &e2)
        .unwrap();
    e2.extend_from_slice(&sig.to_bytes());
    let good = frame(k, 9);
    let r = v.verify_batch(
        &[
            Input::Frame(&f1),
            Input::Frame(&f2),
            Input::Envelope(&e),
            Input::Envelope(&e2),
            Input::Frame(&good),
        ],
        NOW,
    );
    let bad = Some(Rejection::BadSignature);
    assert_eq!(reasons(&r), vec![bad, bad, bad, bad, None]);
}

/// The Ed25519 group order, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn add_le(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut carry = 0u16;
    for i in 0..a.len() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    out
}

/// n - s for secp256k1 (big-endian).
fn secp_neg(s: &[u8]) -> Vec<u8> {
    let n: [u8; 32] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36,
        0x41, 0x41,
    ];
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(n[i]) - i16::from(s[i]) - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    out
}

#[test]
fn malleated_and_high_s_signatures_in_a_batch_are_isolated() {
    let mut net = Net::new(16);
    let secp = SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0x42; 32]).unwrap();
    net.registry
        .insert(id(&secp), DeviceRecord::active(KindSet::ALL))
        .unwrap();
    let mut v = net.verifier();
    let mut inputs: Vec<Vec<u8>> = net.keys.iter().map(|k| frame(k, 1)).collect();
    // item 3: S + l (same signature modulo l, non-reduced): refused at parse
    let f = &mut inputs[3];
    let n = f.len();
    let s_plus_l = add_le(&f[n - 32..], &L);
    f[n - 32..].copy_from_slice(&s_plus_l);
    // item 7: a flipped bit in S: well-formed but wrong
    let f = &mut inputs[7];
    let n = f.len();
    f[n - 20] ^= 0x01;
    // item 11: a flipped bit in the signed payload
    inputs[11][30] ^= 0x80;
    // item 16: a secp256k1 device's valid frame, then its high-S twin
    let good_secp = frame(&secp, 1);
    let mut high_s = frame(&secp, 2);
    let n = high_s.len();
    let neg = secp_neg(&high_s[n - 32..]);
    high_s[n - 32..].copy_from_slice(&neg);
    inputs.push(good_secp);
    inputs.push(high_s);
    let r = v.verify_batch(&frames(&inputs), NOW);
    let mut expected = vec![None; 18];
    expected[3] = Some(Rejection::SignatureEncoding);
    expected[7] = Some(Rejection::BadSignature);
    expected[11] = Some(Rejection::BadSignature);
    expected[17] = Some(Rejection::SignatureEncoding);
    assert_eq!(reasons(&r), expected);
}

#[test]
fn weak_key_in_a_batch_is_rejected_and_the_rest_pass() {
    let mut net = Net::new(8);
    // the identity point: a small-order Ed25519 key that verify_batch would not catch
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = DeviceId::new(KeyType::Ed25519, &identity).unwrap();
    assert!(weak.public_key().is_err());
    net.registry
        .insert(weak, DeviceRecord::active(KindSet::ALL))
        .unwrap();
    let mut v = net.verifier();
    // a frame naming the weak key, with a well-formed signature: R = base point, S = 0
    let header = FrameHeader {
        kind: 7,
        key_type: KeyType::Ed25519,
        key_hint: weak.key_hint(),
        seq: 1,
        timestamp: NOW,
    };
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = encode_unsigned(&header, b"temp=99", &mut buf).unwrap();
    let mut sig = [0u8; 64];
    sig[0] = 0x58;
    sig[1..32].fill(0x66);
    let len = attach_signature(&mut buf, n, &sig).unwrap();
    let mut inputs: Vec<Vec<u8>> = net.keys.iter().map(|k| frame(k, 1)).collect();
    inputs.insert(4, buf[..len].to_vec());
    let before = v.counters().signatures_checked;
    let r = v.verify_batch(&frames(&inputs), NOW);
    let mut expected = vec![None; 9];
    expected[4] = Some(Rejection::InvalidKey);
    assert_eq!(reasons(&r), expected);
    // the weak-key item never reached the signature stage
    assert_eq!(v.counters().signatures_checked - before, 8);
}

#[test]
fn truncated_oversized_and_trailing_bytes_are_rejected_before_signatures() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let k = &net.keys[0];
    let f = frame(k, 1);
    let e = envelope(k, 1, reading(10));
    let mut f_trailing = f.clone();
    f_trailing.push(0);
    let mut e_trailing = e.clone();
    e_trailing.push(0);
    let f_big = vec![1u8; MAX_FRAME_LEN + 1];
    let e_big = vec![0u8; net.config.max_envelope_len + 1];
    let inputs = [
        Input::Frame(&f[..f.len() - 1]),
        Input::Frame(&f[..10]),
        Input::Frame(&f_trailing),
        Input::Frame(&f_big),
        Input::Envelope(&e[..e.len() - 65]),
        Input::Envelope(&e[..3]),
        Input::Envelope(&e_trailing),
        Input::Envelope(&e_big),
        Input::Frame(&[]),
        Input::Envelope(&[]),
    ];
    let r = v.verify_batch(&inputs, NOW);
    use Rejection::*;
    assert_eq!(
        reasons(&r),
        vec![
            Some(Truncated),
            Some(Truncated),
            Some(TrailingBytes),
            Some(TooLarge),
            Some(Truncated),
            Some(Truncated),
            Some(TrailingBytes),
            Some(TooLarge),
            Some(Truncated),
            Some(Truncated),
        ]
    );
    let c = v.counters();
    assert_eq!(c.received, 10);
    assert_eq!(c.decoded, 0);
    assert_eq!(c.signatures_checked, 0, "no signature work for bad sizes");
    assert!(r.iter().all(|x| x.as_ref().unwrap_err().is_pre_signature()));
}

#[test]
fn non_canonical_envelope_is_rejected_before_signatures() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let e = envelope(&net.keys[0], 1, reading(10));
    // seq 1 is the byte after the 34-byte signer field (1 length byte + 33 bytes); encode
    // it over-long as 0x81 0x00
    let seq_at = 1 + 33;
    assert_eq!(e[seq_at], 1);
    let mut bad = e[..seq_at].to_vec();
    bad.extend_from_slice(&[0x81, 0x00]);
    bad.extend_from_slice(&e[seq_at + 1..]);
    assert_eq!(
        v.verify_one(Input::Envelope(&bad), NOW),
        Err(Rejection::NonCanonical)
    );
    assert_eq!(v.counters().signatures_checked, 0);
}

#[test]
fn registry_rules_are_enforced() {
    let mut net = Net::new(5);
    net.registry.set_status(&net.id(1), DeviceStatus::Inactive);
    net.registry.set_status(&net.id(2), DeviceStatus::Revoked);
    net.registry
        .insert(
            net.id(3),
            DeviceRecord::active(KindSet::of(&[
                depin_attest::AttestationKind::BANDWIDTH_TEST,
            ])),
        )
        .unwrap();
    let mut v = net.verifier();
    let stranger = key(99);
    let inputs: Vec<Vec<u8>> = vec![
        frame(&net.keys[0], 1),
        frame(&net.keys[1], 1),
        frame(&net.keys[2], 1),
        frame(&net.keys[3], 1),
        frame(&stranger, 1),
        envelope(&stranger, 1, reading(1)),
    ];
    let mut ins = frames(&inputs[..5]);
    ins.push(Input::Envelope(&inputs[5]));
    let r = v.verify_batch(&ins, NOW);
    use Rejection::*;
    assert_eq!(
        reasons(&r),
        vec![
            None,
            Some(InactiveDevice),
            Some(RevokedDevice),
            Some(KindNotAllowed),
            Some(UnknownDevice),
            Some(UnknownDevice)
        ]
    );
    assert_eq!(v.counters().signatures_checked, 1);
}

#[test]
fn freshness_window() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let k = &net.keys[0];
    let old = frame_with(&domain(), k, 1, Timestamp(NOW.0 - 16 * 60_000), b"x");
    let future = frame_with(&domain(), k, 2, Timestamp(NOW.0 + 61_000), b"x");
    let ok = frame_with(&domain(), k, 3, Timestamp(NOW.0 + 59_000), b"x");
    let r = v.verify_batch(&frames(&[old, future, ok]), NOW);
    assert_eq!(
        reasons(&r),
        vec![Some(Rejection::Stale), Some(Rejection::FromFuture), None]
    );
}

#[test]
fn deny_list_updates_need_the_authority_and_a_higher_version() {
    let mut net = Net::new(3);
    let authority = key(200);
    net.config.deny_authority = Some(id(&authority));
    let mut v = net.verifier();
    let list = DenyList {
        version: 1,
        keys: vec![net.id(1)],
        edges: vec![],
    };
    // signed by someone else
    let forged = list.sign(&domain(), &key(201)).unwrap();
    assert!(v.update_deny_list(&forged).is_err());
    // signed for another network
    let other = Domain::new(NetworkId::new("other-net").unwrap());
    assert!(v
        .update_deny_list(&list.sign(&other, &authority).unwrap())
        .is_err());
    // tampered after signing
    let mut tampered = list.sign(&domain(), &authority).unwrap();
    tampered[0] ^= 2;
    assert!(v.update_deny_list(&tampered).is_err());
    assert_eq!(v.deny_list_version(), None);
    // genuine
    let signed = list.sign(&domain(), &authority).unwrap();
    assert_eq!(v.update_deny_list(&signed).unwrap(), 1);
    // the same version again (a replayed update) is refused
    assert!(v.update_deny_list(&signed).is_err());
    let inputs = vec![frame(&net.keys[0], 1), frame(&net.keys[1], 1)];
    let r = v.verify_batch(&frames(&inputs), NOW);
    assert_eq!(reasons(&r), vec![None, Some(Rejection::DeniedKey)]);
    // a newer, empty list lifts the ban
    let v2 = DenyList {
        version: 2,
        ..Default::default()
    };
    v.update_deny_list(&v2.sign(&domain(), &authority).unwrap())
        .unwrap();
    let again = vec![frame(&net.keys[1], 2)];
    assert_eq!(reasons(&v.verify_batch(&frames(&again), NOW)), vec![None]);
    // a lower version is refused
    let old = DenyList {
        version: 1,
        ..Default::default()
    };
    assert!(v
        .update_deny_list(&old.sign(&domain(), &authority).unwrap())
        .is_err());
}

#[test]
fn deny_list_updates_without_an_authority_are_refused() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let signed = DenyList::default().sign(&domain(), &key(200)).unwrap();
    assert!(v.update_deny_list(&signed).is_err());
}

#[test]
fn envelope_from_another_signer_is_rejected() {
    let net = Net::new(2);
    let mut v = net.verifier();
    // device 0 claims to be device 1
    let body = reading(1).body(net.id(1), 1, NOW);
    let e = depin_attest::Envelope::sign(&domain(), &net.keys[0], &body).unwrap();
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn config_is_validated() {
    let mut net = Net::new(1);
    net.config.max_envelope_len = 10;
    assert!(Verifier::new(
        net.config.clone(),
        net.registry.clone(),
        depin_attest::MemoryReplayStore::new()
    )
    .is_err());
}

/// Each accepted verdict carries the trust level the registry gave its device (what
/// trust-priced reward rules read from the stored items); a refused one carries nothing.
#[test]
fn accepted_items_carry_the_registrys_trust_level() {
    use depin_core::TrustLevel;
    let mut net = Net::new(3);
    for (i, level) in TrustLevel::ALL.into_iter().enumerate() {
        let mut rec = DeviceRecord::active(KindSet::ALL);
        rec.trust = level;
        net.registry.insert(net.id(i), rec).unwrap();
    }
    let mut v = net.verifier();
    let inputs: Vec<Vec<u8>> = net.keys.iter().map(|k| frame(k, 1)).collect();
    let verdicts = v.verify_batch(&frames(&inputs), NOW);
    let levels: Vec<TrustLevel> = verdicts.iter().map(|v| v.as_ref().unwrap().trust).collect();
    assert_eq!(levels, TrustLevel::ALL.to_vec());
    // a serialized verdict keeps it, and one written before the field existed reads as
    // untrusted
    let a = verdicts[2].as_ref().unwrap();
    let json = serde_json::to_value(a).unwrap();
    assert_eq!(json["trust"], "hardware");
    let mut old = json.clone();
    old.as_object_mut().unwrap().remove("trust");
    let back: depin_attest::Accepted = serde_json::from_value(old).unwrap();
    assert_eq!(back.trust, TrustLevel::Untrusted);
}
