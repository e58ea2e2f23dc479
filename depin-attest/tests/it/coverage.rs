//! Proof of coverage: beacon rules, every witness rule, selection, collusion rings.

use crate::common::Attestation;
use depin_attest::types::Region;
use depin_attest::{Input, Outcome, Rejection, RingAction};
use depin_core::Timestamp;

use crate::common::*;

fn at(ms: u64) -> Timestamp {
    Timestamp(NOW.0 + ms)
}

/// Device 0 beacons at NOW from the origin; the given witnesses (device index,
/// envelope) follow; returns the outcome after finalization.
fn run(
    net: &Net,
    witnesses: Vec<(usize, Timestamp, Attestation)>,
) -> (depin_attest::CoverageOutcome, TestVerifier) {
    let mut v = net.verifier();
    let b = envelope(&net.keys[0], 1, beacon(0.0));
    assert_eq!(
        v.verify_one(Input::Envelope(&b), NOW).unwrap().outcome,
        Outcome::Recorded
    );
    let bytes: Vec<Vec<u8>> = witnesses
        .into_iter()
        .enumerate()
        .map(|(i, (dev, ts, a))| envelope_at(&net.keys[dev], 10 + i as u64, ts, a))
        .collect();
    let r = v.verify_batch(&envelopes(&bytes), at(5_000));
    for verdict in &r {
        assert_eq!(verdict.as_ref().unwrap().outcome, Outcome::PendingSelection);
    }
    (v.finalize_coverage(), v)
}

fn rejected(out: &depin_attest::CoverageOutcome) -> Vec<Rejection> {
    out.rejected.iter().map(|r| r.reason).collect()
}

#[test]
fn honest_witnesses_are_kept() {
    let net = Net::new(3);
    let (out, v) = run(
        &net,
        vec![
            (1, at(500), witness(2_000.0, -1000)),
            (2, at(800), witness(5_000.0, -1150)),
        ],
    );
    assert_eq!(out.beacons.len(), 1);
    assert_eq!(out.beacons[0].beaconer, net.id(0));
    // same arrival (one batch): ordered by envelope digest, so compare as a set
    let mut kept = out.beacons[0].witnesses.clone();
    kept.sort();
    let mut want = vec![net.id(1), net.id(2)];
    want.sort();
    assert_eq!(kept, want);
    assert!(out.rejected.is_empty());
    let epoch = net.config.schedule.epoch_of(NOW).unwrap();
    let report = v.report(epoch).unwrap();
    assert_eq!(report.accepted_total(), 3);
}

#[test]
fn self_witness_is_rejected() {
    let net = Net::new(2);
    let (out, v) = run(&net, vec![(0, at(500), witness(2_000.0, -1000))]);
    assert_eq!(rejected(&out), vec![Rejection::SelfWitness]);
    let epoch = net.config.schedule.epoch_of(NOW).unwrap();
    let report = v.report(epoch).unwrap();
    assert_eq!(report.rejected_for(Rejection::SelfWitness), 1);
    assert_eq!(
        report.accepted_total(),
        1,
        "only the beacon remains accepted"
    );
}

#[test]
fn duplicate_witness_keeps_the_first_by_arrival_then_lowest_digest() {
    let net = Net::new(2);
    let mut v = net.verifier();
    let b = envelope(&net.keys[0], 1, beacon(0.0));
    v.verify_one(Input::Envelope(&b), NOW).unwrap();
    // two witnesses of the same gateway in one batch (same arrival), then a third later
    let w1 = envelope_at(&net.keys[1], 1, at(500), witness(2_000.0, -1000));
    let w2 = envelope_at(&net.keys[1], 2, at(600), witness(2_000.0, -1010));
    let w3 = envelope_at(&net.keys[1], 3, at(400), witness(2_000.0, -1020));
    v.verify_batch(&envelopes(&[w2.clone(), w1.clone()]), at(5_000));
    v.verify_batch(&envelopes(std::slice::from_ref(&w3)), at(6_000));
    let out = v.finalize_coverage();
    assert_eq!(out.beacons[0].witnesses, vec![net.id(1)]);
    assert_eq!(
        rejected(&out),
        vec![Rejection::DuplicateWitness, Rejection::DuplicateWitness]
    );
    // the same choice whatever the order inside the batch
    let mut v2 = net.verifier();
    v2.verify_one(Input::Envelope(&b), NOW).unwrap();
    v2.verify_batch(&envelopes(&[w1, w2]), at(5_000));
    v2.verify_batch(&envelopes(&[w3]), at(6_000));
    let out2 = v2.finalize_coverage();
    assert_eq!(out2, out);
}

#[test]
fn witness_too_close_is_rejected() {
    let net = Net::new(2);
    // 8 res-11 cells are roughly 400 m; 100 m is too close
    let (out, _) = run(&net, vec![(1, at(500), witness(100.0, -1000))]);
    assert_eq!(rejected(&out), vec![Rejection::TooClose]);
}

#[test]
fn witness_too_far_is_rejected() {
    let net = Net::new(2);
    let (out, _) = run(&net, vec![(1, at(500), witness(150_000.0, -1300))]);
    assert_eq!(rejected(&out), vec![Rejection::TooFar]);
}

#[test]
fn impossible_signal_is_rejected() {
    let net = Net::new(3);
    // at 2 km and 904.6 MHz free space loses about 97.6 dB: 27 dBm in cannot arrive
    // at -30 dBm; -75 dBm is possible
    let (out, _) = run(
        &net,
        vec![
            (1, at(500), witness(2_000.0, -300)),
            (2, at(500), witness(2_000.0, -750)),
        ],
    );
    assert_eq!(rejected(&out), vec![Rejection::ImpossibleSignal]);
    assert_eq!(out.beacons[0].witnesses, vec![net.id(2)]);
}

#[test]
fn lag_frequency_region_and_unknown_beacon() {
    let net = Net::new(6);
    let mut wrong_freq = witness_body(2_000.0, -1000);
    wrong_freq.frequency_hz += 150_000;
    let mut wrong_region = witness_body(2_000.0, -1000);
    wrong_region.region = Region::Eu868;
    let mut other_payload = witness_body(2_000.0, -1000);
    other_payload.beacon_payload = b"another beacon".to_vec();
    let (out, _) = run(
        &net,
        vec![
            (1, at(4_001), witness(2_000.0, -1000)),
            (2, Timestamp(NOW.0 - 1), witness(2_000.0, -1000)),
            (3, at(500), Attestation::CoverageWitness(wrong_freq)),
            (4, at(500), Attestation::CoverageWitness(wrong_region)),
            (5, at(500), Attestation::CoverageWitness(other_payload)),
        ],
    );
    let mut got = rejected(&out);
    got.sort();
    let mut want = vec![
        Rejection::UnknownBeacon,
        Rejection::WitnessLag,
        Rejection::WitnessLag,
        Rejection::FrequencyMismatch,
        Rejection::RegionMismatch,
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn witness_limit_keeps_the_earliest() {
    let mut net = Net::new(6);
    net.config.policies.coverage.max_witnesses = 2;
    let mut v = net.verifier();
    let b = envelope(&net.keys[0], 1, beacon(0.0));
    v.verify_one(Input::Envelope(&b), NOW).unwrap();
    for (i, dev) in [5usize, 4, 3, 2, 1].iter().enumerate() {
        let w = envelope_at(&net.keys[*dev], 1, at(500), witness(3_000.0, -1000));
        v.verify_one(Input::Envelope(&w), at(1_000 + i as u64))
            .unwrap();
    }
    let out = v.finalize_coverage();
    assert_eq!(out.beacons[0].witnesses, vec![net.id(5), net.id(4)]);
    assert_eq!(rejected(&out), vec![Rejection::WitnessLimit; 3]);
}

#[test]
fn beacon_interval_and_duplicate_beacons() {
    let net = Net::new(2);
    let mut v = net.verifier();
    let b1 = envelope(&net.keys[0], 1, beacon(0.0));
    let mut other = beacon(0.0);
    if let Attestation::CoverageBeacon(b) = &mut other {
        b.payload = b"second".to_vec();
    }
    let b2 = envelope_at(&net.keys[0], 2, at(1_000), other);
    // the same device sending the same payload again is a duplicate
    let b1_again = envelope_at(&net.keys[0], 3, at(1_500), beacon(0.0));
    // device 1 re-broadcasts device 0's payload as its own beacon: a different beacon
    // (its id binds the beaconer), which displaces nothing; see attacks.rs for what it earns
    let b3 = envelope(&net.keys[1], 1, beacon(0.0));
    let r = v.verify_batch(&envelopes(&[b1, b2, b1_again, b3]), at(2_000));
    assert_eq!(
        reasons(&r),
        vec![
            None,
            Some(Rejection::BeaconTooSoon),
            Some(Rejection::BeaconTooSoon),
            None
        ]
    );
}

#[test]
fn asserted_location_must_match() {
    let mut net = Net::new(2);
    let mut rec = depin_attest::DeviceRecord::active(depin_attest::KindSet::ALL);
    rec.location = Some(cell(50_000.0));
    net.registry.insert(net.id(0), rec).unwrap();
    let mut v = net.verifier();
    let b = envelope(&net.keys[0], 1, beacon(0.0));
    assert_eq!(
        v.verify_one(Input::Envelope(&b), NOW),
        Err(Rejection::LocationMismatch)
    );
}

#[test]
fn denied_edge_is_rejected() {
    let mut net = Net::new(3);
    let authority = key(200);
    net.config.deny_authority = Some(id(&authority));
    let mut v = net.verifier();
    let list = depin_attest::DenyList {
        version: 7,
        keys: vec![],
        edges: vec![(net.id(1), net.id(0))],
    };
    v.update_deny_list(&list.sign(&domain(), &authority).unwrap())
        .unwrap();
    let b = envelope(&net.keys[0], 1, beacon(0.0));
    v.verify_one(Input::Envelope(&b), NOW).unwrap();
    let w1 = envelope_at(&net.keys[1], 1, at(500), witness(2_000.0, -1000));
    let w2 = envelope_at(&net.keys[2], 1, at(500), witness(3_000.0, -1000));
    v.verify_batch(&envelopes(&[w1, w2]), at(1_000));
    let out = v.finalize_coverage();
    assert_eq!(rejected(&out), vec![Rejection::DeniedEdge]);
    assert_eq!(out.beacons[0].witnesses, vec![net.id(2)]);
}

/// Devices 0..k each beacon (payload i) from distinct places and witness each other
/// only.
fn ring_epoch(net: &Net, members: &[usize], outsiders: &[(usize, usize)]) -> TestVerifier {
    let mut v = net.verifier();
    let place = |i: usize| 3_000.0 * i as f64;
    // every beaconing device once (an outsider's target may also be a member)
    let beaconers: std::collections::BTreeSet<usize> = members
        .iter()
        .copied()
        .chain(outsiders.iter().map(|&(_, b)| b))
        .collect();
    for b in beaconers {
        let mut a = beacon(place(b));
        if let Attestation::CoverageBeacon(x) = &mut a {
            x.payload = vec![b as u8 + 1; 8];
        }
        let e = envelope(&net.keys[b], 1, a);
        v.verify_one(Input::Envelope(&e), NOW).unwrap();
    }
    let mut seq = 10;
    let mut witness_of = |v: &mut TestVerifier, w: usize, b: usize| {
        let body = witness_body_of(&net.id(b), &[b as u8 + 1; 8], place(w), -1100);
        seq += 1;
        let e = envelope_at(
            &net.keys[w],
            seq,
            at(500),
            Attestation::CoverageWitness(body),
        );
        v.verify_one(Input::Envelope(&e), at(1_000)).unwrap();
    };
    for &w in members {
        for &b in members {
            if w != b {
                witness_of(&mut v, w, b);
            }
        }
    }
    for &(w, b) in outsiders {
        witness_of(&mut v, w, b);
    }
    v
}

#[test]
fn collusion_ring_is_detected_and_rejected() {
    let net = Net::new(8);
    // 0,1,2 only witness each other; 3,4,5,6 witness each other but 7 also witnesses 6
    let mut v = ring_epoch(&net, &[0, 1, 2], &[]);
    let out = v.finalize_coverage();
    assert_eq!(
        out.rings,
        vec![{
            let mut m = vec![net.id(0), net.id(1), net.id(2)];
            m.sort();
            m
        }]
    );
    assert_eq!(rejected(&out), vec![Rejection::CollusionRing; 6]);
    assert_eq!(out.beacons.len(), 3);
    assert!(out.beacons.iter().all(|b| b.witnesses.is_empty()));
    let epoch = net.config.schedule.epoch_of(NOW).unwrap();
    assert_eq!(
        v.report(epoch)
            .unwrap()
            .rejected_for(Rejection::CollusionRing),
        6
    );

    let mut open = ring_epoch(&net, &[3, 4, 5, 6], &[(7, 6)]);
    let out = open.finalize_coverage();
    // issue 23: one edge from outside no longer hides the clique; 7 is not a member
    let mut m = vec![net.id(3), net.id(4), net.id(5), net.id(6)];
    m.sort();
    assert_eq!(out.rings, vec![m]);
    assert_eq!(rejected(&out), vec![Rejection::CollusionRing; 12]);
}

#[test]
fn collusion_ring_can_be_flagged_only() {
    let mut net = Net::new(3);
    net.config.policies.collusion_ring.action = RingAction::Flag;
    let mut v = ring_epoch(&net, &[0, 1, 2], &[]);
    let out = v.finalize_coverage();
    assert_eq!(out.rings.len(), 1);
    assert!(out.rejected.is_empty());
    assert_eq!(
        out.beacons.iter().map(|b| b.witnesses.len()).sum::<usize>(),
        6
    );
}
