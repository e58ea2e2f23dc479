//! The open SDK: a network's own kinds, policies and registry go through the same traits,
//! reports and gossip verdicts as the built-in ones (issue 13).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use depin_attest::kind::RawReports;
use depin_attest::{
    builtin_kinds, builtin_policies, AttestationKind, AttestationType, DeviceRecord, Envelope,
    EnvelopeBody, EpochReport, Error, Input, Item, KindSet, Label, Lookup, MemoryRegistry,
    MemoryReplayStore, Outcome, Policy, PolicyRejection, Registry, Rejection, Verifier,
    VerifierBuilder, VerifierConfig,
};
use depin_core::frame::{sign_frame, MAX_FRAME_LEN};
use depin_core::{DeviceId, Epoch, KeyHint, Timestamp};
use serde::{Deserialize, Serialize};

use crate::common::{domain, id, key, reading, Attestation, Net, NOW};

/// An air-quality reading: PM2.5 in tenths of µg/m³ and temperature in tenths of °C.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AirQuality {
    pm25_dug: u32,
    temp_dc: i16,
}

impl AttestationType for AirQuality {
    const KIND: AttestationKind = AttestationKind::application(0x0a1);
    const NAME: Label = Label::new("air_quality");
    const MAX_LEN: usize = 16;
    const FRAME_KIND: Option<u8> = Some(0x42);
    fn check(&self) -> Result<(), Rejection> {
        // structural: a temperature sensor cannot report below absolute zero
        if self.temp_dc < -2731 {
            return Err(Rejection::InvalidStructure);
        }
        Ok(())
    }
}

const BOUNDS: Label = Label::new("air_bounds");
const RATE: Label = Label::new("air_rate");

/// Readings within physical bounds (read-only rule).
struct Bounds {
    max_pm25_dug: u32,
}

impl Policy for Bounds {
    fn name(&self) -> Label {
        BOUNDS
    }
    fn version(&self) -> u32 {
        3
    }
    fn applies_to(&self, kind: AttestationKind) -> bool {
        kind == AirQuality::KIND
    }
    fn check(&self, item: &Item<'_>) -> Result<(), Rejection> {
        let r = item.body::<AirQuality>()?;
        if r.pm25_dug > self.max_pm25_dug {
            return Err(PolicyRejection::new(BOUNDS, Label::new("pm25_out_of_range")).into());
        }
        Ok(())
    }
}

/// At most `per_epoch` reports per device per epoch (state: counts, reset per epoch).
struct Rate {
    per_epoch: u32,
    counts: HashMap<DeviceId, u32>,
    epochs_begun: Vec<Epoch>,
}

impl Policy for Rate {
    fn name(&self) -> Label {
        RATE
    }
    fn version(&self) -> u32 {
        1
    }
    fn applies_to(&self, kind: AttestationKind) -> bool {
        kind == AirQuality::KIND
    }
    fn check(&self, item: &Item<'_>) -> Result<(), Rejection> {
        if self.counts.get(item.device).copied().unwrap_or(0) >= self.per_epoch {
            return Err(PolicyRejection::new(RATE, Label::new("too_many_reports"))
                .without_penalty()
                .into());
        }
        Ok(())
    }
    fn apply(&mut self, item: &Item<'_>, outcome: &mut Outcome) -> Result<(), Rejection> {
        let n = self.counts.entry(*item.device).or_insert(0);
        *n += 1;
        *outcome = Outcome::Credited {
            policy: RATE,
            units: u64::from(*n),
        };
        Ok(())
    }
    fn begin_epoch(&mut self, epoch: Epoch) {
        self.counts.clear();
        self.epochs_begun.push(epoch);
    }
}

fn air_net(n: u8) -> (Net, MemoryRegistry) {
    let net = Net::new(n);
    let mut registry = MemoryRegistry::new();
    for k in &net.keys {
        registry
            .insert(
                id(k),
                DeviceRecord::active(KindSet::of(&[AirQuality::KIND])),
            )
            .unwrap();
    }
    (net, registry)
}

fn air_verifier(registry: MemoryRegistry) -> Verifier<MemoryRegistry, MemoryReplayStore> {
    VerifierBuilder::new(VerifierConfig::new(domain()))
        .without_builtins()
        .kind_type::<AirQuality>()
        .policy(Bounds {
            max_pm25_dug: 5_000,
        })
        .policy(Rate {
            per_epoch: 2,
            counts: HashMap::new(),
            epochs_begun: Vec::new(),
        })
        .build(registry, MemoryReplayStore::new())
        .unwrap()
}

fn air(k: &depin_core::SigningKey, seq: u64, pm25_dug: u32) -> Vec<u8> {
    let r = AirQuality {
        pm25_dug,
        temp_dc: 215,
    };
    Envelope::sign_attestation(&domain(), k, seq, NOW, &r).unwrap()
}

#[test]
fn a_network_kind_and_its_policies_are_first_class() {
    let (net, registry) = air_net(2);
    let mut v = air_verifier(registry);
    let k = &net.keys[0];
    let inputs = [
        air(k, 1, 120),
        air(k, 2, 9_999), // out of bounds
        air(k, 3, 130),
        air(k, 4, 140), // third accepted-looking report: over the rate
        air(&net.keys[1], 1, 100),
    ];
    let verdicts = v.verify_batch(
        &inputs
            .iter()
            .map(|b| Input::Envelope(b))
            .collect::<Vec<_>>(),
        NOW,
    );
    let oob = Rejection::Policy(PolicyRejection::new(
        BOUNDS,
        Label::new("pm25_out_of_range"),
    ));
    let rate = Rejection::Policy(
        PolicyRejection::new(RATE, Label::new("too_many_reports")).without_penalty(),
    );
    assert_eq!(verdicts[1], Err(oob));
    assert_eq!(verdicts[3], Err(rate));
    // the decoded body travels with the verdict: nothing is parsed twice
    let a = verdicts[0].as_ref().unwrap();
    assert_eq!(a.kind, AirQuality::KIND);
    assert_eq!(
        a.payload.get::<AirQuality>(),
        Some(&AirQuality {
            pm25_dug: 120,
            temp_dc: 215
        })
    );
    assert_eq!(
        verdicts[2].as_ref().unwrap().outcome,
        Outcome::Credited {
            policy: RATE,
            units: 2
        }
    );
    // the SDK's own report counts the network's rejections like the built-in reasons
    let epoch = v.config().schedule.epoch_of(NOW).unwrap();
    let report = v.report(epoch).unwrap();
    assert_eq!(report.accepted_for(AirQuality::KIND), 3);
    assert_eq!(report.rejected_for(oob), 1);
    assert_eq!(report.rejected_for(rate), 1);
    assert_eq!(report.rejected_by_policy(BOUNDS), 1);
    assert_eq!(report.rejected_by_policy(RATE), 1);
    assert_eq!(report.kind_name(AirQuality::KIND), "air_quality");
    assert_eq!(report.policies.get(&BOUNDS), Some(&3));
    assert_eq!(report.policies.get(&RATE), Some(&1));
    let shown = report.to_string();
    assert!(shown.contains("air_quality"), "{shown}");
    assert!(shown.contains("air_bounds/pm25_out_of_range"), "{shown}");
    // frames of every kind travel on the frame topic, envelopes on the kind's own
    let topics: Vec<String> = v.topics().iter().map(|t| t.to_string()).collect();
    assert_eq!(topics, ["report", "air_quality"]);
    assert!(v.topic_carries_frames(Label::new("report")));
    assert!(!v.topic_carries_frames(Label::new("air_quality")));
    assert!(v
        .topic_kinds(Label::new("air_quality"))
        .contains(AirQuality::KIND));
    // the penalty is not part of a policy rejection's identity (nor of its code)
    assert_eq!(
        Rejection::Policy(PolicyRejection::new(RATE, Label::new("too_many_reports"))),
        rate
    );
    // gossip: the same rule for every reason
    assert!(oob.penalises_sender());
    assert!(!rate.penalises_sender());
    assert_eq!(oob.code(), "air_bounds/pm25_out_of_range");
    assert_eq!(oob.policy(), Some(BOUNDS));
    assert_eq!(
        Rejection::CounterRollback.policy(),
        Some(Label::new("energy"))
    );
    // the policy's state is reachable through the same downcast the built-ins use
    assert_eq!(v.policy::<Rate>().unwrap().counts.len(), 2);
    assert_eq!(
        v.policy_versions(),
        vec![(BOUNDS, 3), (RATE, 1)],
        "the order policies run in"
    );
}

#[test]
fn per_epoch_state_is_reset_by_begin_epoch() {
    let (net, registry) = air_net(1);
    let mut v = air_verifier(registry);
    let k = &net.keys[0];
    let day = 86_400_000;
    let first: Vec<Vec<u8>> = (1..=3).map(|s| air(k, s, 100)).collect();
    let r = v.verify_batch(
        &first.iter().map(|b| Input::Envelope(b)).collect::<Vec<_>>(),
        NOW,
    );
    assert_eq!(r.iter().filter(|v| v.is_ok()).count(), 2);
    // next epoch: the rate counts start again
    let later = Timestamp(NOW.0 + day);
    let next: Vec<Vec<u8>> = (4..=6)
        .map(|s| {
            let r = AirQuality {
                pm25_dug: 100,
                temp_dc: 0,
            };
            Envelope::sign_attestation(&domain(), k, s, later, &r).unwrap()
        })
        .collect();
    let r = v.verify_batch(
        &next.iter().map(|b| Input::Envelope(b)).collect::<Vec<_>>(),
        later,
    );
    assert_eq!(r.iter().filter(|v| v.is_ok()).count(), 2);
    let begun = &v.policy::<Rate>().unwrap().epochs_begun;
    assert_eq!(begun.len(), 2, "once per new epoch: {begun:?}");
    assert!(begun[0] < begun[1]);
}

#[test]
fn unknown_kinds_are_a_typed_rejection() {
    let (net, registry) = air_net(1);
    let k = &net.keys[0];
    // a verifier with only the built-in kinds does not know the network's kind
    let mut builtin = Verifier::new(
        VerifierConfig::new(domain()),
        registry.clone(),
        MemoryReplayStore::new(),
    )
    .unwrap();
    assert_eq!(
        builtin.verify_one(Input::Envelope(&air(k, 1, 1)), NOW),
        Err(Rejection::UnknownKind)
    );
    // and the network's verifier does not know the built-in ones
    let mut v = air_verifier(registry);
    let e = crate::common::envelope(k, 2, reading(5));
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW),
        Err(Rejection::UnknownKind)
    );
    // nor raw report frames, since it registered no raw report kind
    let f = crate::common::frame(k, 1);
    assert_eq!(
        v.verify_one(Input::Frame(&f), NOW),
        Err(Rejection::UnknownKind)
    );
    assert_eq!(
        v.counters().signatures_checked,
        0,
        "refused before any signature work"
    );
    // a body of one kind sent under another kind's number does not decode
    let body = EnvelopeBody {
        signer: id(k),
        seq: 3,
        timestamp: NOW,
        kind: AirQuality::KIND,
        payload: depin_core::encoding::encode(&depin_attest::types::EnergyReading {
            direction: depin_attest::types::EnergyDirection::Consumption,
            cumulative_wh: 1 << 40,
        })
        .unwrap(),
    };
    let e = Envelope::sign(&domain(), k, &body).unwrap();
    assert!(v
        .verify_one(Input::Envelope(&e), NOW)
        .unwrap_err()
        .is_pre_signature());
    // a payload above the kind's own limit is refused before decoding
    let mut body = body;
    body.payload = vec![0; AirQuality::MAX_LEN + 1];
    let e = Envelope::sign(&domain(), k, &body).unwrap();
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW),
        Err(Rejection::TooLarge)
    );
    // a structural check of the kind runs at decoding
    let cold = AirQuality {
        pm25_dug: 1,
        temp_dc: -3000,
    };
    let e = Envelope::sign_attestation(&domain(), k, 4, NOW, &cold).unwrap();
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW),
        Err(Rejection::InvalidStructure)
    );
}

#[test]
fn frames_carry_a_network_kind_decoded_by_it() {
    let (net, registry) = air_net(1);
    let mut v = air_verifier(registry);
    let k = &net.keys[0];
    let body = depin_core::encoding::encode(&AirQuality {
        pm25_dug: 77,
        temp_dc: -5,
    })
    .unwrap();
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = sign_frame(&domain(), k, 0x42, 1, NOW, &body, &mut buf).unwrap();
    let a = v.verify_one(Input::Frame(&buf[..n]), NOW).unwrap();
    assert_eq!(a.kind, AirQuality::KIND);
    assert_eq!(a.payload.get::<AirQuality>().unwrap().pm25_dug, 77);
    // the network's policies run on frames too
    let hot = depin_core::encoding::encode(&AirQuality {
        pm25_dug: 50_000,
        temp_dc: 0,
    })
    .unwrap();
    let n = sign_frame(&domain(), k, 0x42, 2, NOW, &hot, &mut buf).unwrap();
    assert_eq!(
        v.verify_one(Input::Frame(&buf[..n]), NOW)
            .unwrap_err()
            .policy(),
        Some(BOUNDS)
    );
    // another report kind byte is unknown here
    let n = sign_frame(&domain(), k, 0x43, 3, NOW, &body, &mut buf).unwrap();
    assert_eq!(
        v.verify_one(Input::Frame(&buf[..n]), NOW),
        Err(Rejection::UnknownKind)
    );
}

#[test]
fn the_builder_refuses_ambiguous_networks() {
    let cfg = || VerifierConfig::new(domain());
    let build = |b: VerifierBuilder| {
        b.build(MemoryRegistry::new(), MemoryReplayStore::new())
            .map(|_| ())
    };
    #[derive(Debug, Serialize, Deserialize)]
    struct Twin;
    impl AttestationType for Twin {
        const KIND: AttestationKind = AirQuality::KIND;
        const NAME: Label = Label::new("twin");
    }
    #[derive(Debug, Serialize, Deserialize)]
    struct SameName;
    impl AttestationType for SameName {
        const KIND: AttestationKind = AttestationKind::application(7);
        const NAME: Label = Label::new("air_quality");
    }
    #[derive(Debug, Serialize, Deserialize)]
    struct Squatter;
    impl AttestationType for Squatter {
        // below the application range and not a built-in kind
        const KIND: AttestationKind = AttestationKind(0x0100);
        const NAME: Label = Label::new("squatter");
    }
    #[derive(Debug, Serialize, Deserialize)]
    struct SameFrame;
    impl AttestationType for SameFrame {
        const KIND: AttestationKind = AttestationKind::application(8);
        const NAME: Label = Label::new("same_frame");
        const FRAME_KIND: Option<u8> = Some(0x42);
    }
    let air = || cfg_air(cfg());
    fn cfg_air(c: VerifierConfig) -> VerifierBuilder {
        VerifierBuilder::new(c)
            .without_builtins()
            .kind_type::<AirQuality>()
    }
    #[derive(Debug, Serialize, Deserialize)]
    struct OnFrames;
    impl AttestationType for OnFrames {
        const KIND: AttestationKind = AttestationKind::application(9);
        const NAME: Label = Label::new("on_frames");
        const TOPIC: Label = depin_attest::kind::FRAME_TOPIC;
    }
    for (what, b) in [
        ("the frame topic", air().kind_type::<OnFrames>()),
        ("same number", air().kind_type::<Twin>()),
        ("same name", air().kind_type::<SameName>()),
        ("outside the ranges", air().kind_type::<Squatter>()),
        ("same frame kind", air().kind_type::<SameFrame>()),
        (
            "a built-in twice",
            VerifierBuilder::new(cfg()).kind(RawReports),
        ),
        (
            "policy for nothing",
            VerifierBuilder::new(cfg()).policy(Bounds { max_pm25_dug: 1 }),
        ),
        (
            "two policies, one name",
            air()
                .policy(Bounds { max_pm25_dug: 1 })
                .policy(Bounds { max_pm25_dug: 2 }),
        ),
    ] {
        assert!(matches!(build(b), Err(Error::Config(_))), "{what}");
    }
    assert!(build(air().policy(Bounds { max_pm25_dug: 1 })).is_ok());
}

#[test]
fn built_ins_are_reachable_through_the_public_parts() {
    // a verifier assembled by hand from the public built-in parts behaves like the default
    let net = Net::new(2);
    let mut by_hand = VerifierBuilder::new(net.config.clone()).without_builtins();
    for k in builtin_kinds() {
        by_hand = by_hand.kind_dyn(k);
    }
    for p in builtin_policies(&net.config.policies).unwrap() {
        by_hand = by_hand.policy_dyn(p);
    }
    let mut a = by_hand
        .build(net.registry.clone(), MemoryReplayStore::new())
        .unwrap();
    let mut b = net.verifier();
    assert_eq!(a.policy_versions(), b.policy_versions());
    assert_eq!(a.kinds(), b.kinds());
    let k = &net.keys[0];
    let items = [
        crate::common::envelope(k, 1, reading(10)),
        crate::common::envelope(k, 2, reading(5)), // rollback
        crate::common::frame(k, 1),
        crate::common::envelope(k, 3, crate::common::beacon(0.0)),
    ];
    let inputs: Vec<Input<'_>> = vec![
        Input::Envelope(&items[0]),
        Input::Envelope(&items[1]),
        Input::Frame(&items[2]),
        Input::Envelope(&items[3]),
    ];
    let va = a.verify_batch(&inputs, NOW);
    let vb = b.verify_batch(&inputs, NOW);
    assert_eq!(va, vb);
    assert_eq!(va[1], Err(Rejection::CounterRollback));
    assert_eq!(
        va[2].as_ref().unwrap().outcome,
        Outcome::Report { report_kind: 7 }
    );
    // gossip topics derive from the kinds
    let topics: Vec<String> = b.topics().iter().map(|t| t.to_string()).collect();
    assert_eq!(
        topics,
        ["report", "coverage", "storage", "energy", "bandwidth"]
    );
    assert!(b
        .topic_kinds(Label::new("energy"))
        .contains(AttestationKind::CHARGING_SESSION));
    assert!(!b
        .topic_kinds(Label::new("energy"))
        .contains(AttestationKind::BANDWIDTH_TEST));
    assert!(b.topic_carries_frames(Label::new("report")));
    let _ = Attestation::EnergyReading; // the fixture enum lives in the tests only
}

#[test]
fn a_later_policy_refusing_in_check_leaves_earlier_state_untouched() {
    // a network rule on the built-in energy kind: no readings above 1 MWh cumulative
    struct Cap;
    impl Policy for Cap {
        fn name(&self) -> Label {
            Label::new("meter_cap")
        }
        fn version(&self) -> u32 {
            1
        }
        fn applies_to(&self, kind: AttestationKind) -> bool {
            kind == AttestationKind::ENERGY_READING
        }
        fn check(&self, item: &Item<'_>) -> Result<(), Rejection> {
            let r = item.body::<depin_attest::types::EnergyReading>()?;
            if r.cumulative_wh > 1_000_000 {
                return Err(
                    PolicyRejection::new(Label::new("meter_cap"), Label::new("above_cap")).into(),
                );
            }
            Ok(())
        }
    }
    let net = Net::new(1);
    let mut v = VerifierBuilder::new(net.config.clone())
        .policy(Cap)
        .build(net.registry.clone(), MemoryReplayStore::new())
        .unwrap();
    let k = &net.keys[0];
    let at = |s: u64| Timestamp(NOW.0 + s * 1000);
    let e1 = crate::common::envelope_at(k, 1, at(0), reading(100));
    let e2 = crate::common::envelope_at(k, 2, at(60), reading(5_000_000));
    let e3 = crate::common::envelope_at(k, 3, at(120), reading(110));
    assert_eq!(
        v.verify_one(Input::Envelope(&e1), at(0)).unwrap().outcome,
        Outcome::Energy { wh: 0 }
    );
    assert_eq!(
        v.verify_one(Input::Envelope(&e2), at(60))
            .unwrap_err()
            .code(),
        "meter_cap/above_cap"
    );
    // the refused reading did not become the energy policy's baseline: 110 - 100 is credited
    assert_eq!(
        v.verify_one(Input::Envelope(&e3), at(120)).unwrap().outcome,
        Outcome::Energy { wh: 10 }
    );
}

/// A registry that can be switched off, like a chain that is unreachable.
struct Flaky {
    inner: MemoryRegistry,
    down: AtomicBool,
}

impl Registry for Flaky {
    fn device(&self, device: &DeviceId) -> Lookup<DeviceRecord> {
        if self.down.load(Ordering::SeqCst) {
            return Lookup::Unavailable;
        }
        self.inner.device(device)
    }
    fn resolve_hint(&self, hint: &KeyHint) -> Lookup<DeviceId> {
        if self.down.load(Ordering::SeqCst) {
            return Lookup::Unavailable;
        }
        self.inner.resolve_hint(hint)
    }
}

#[test]
fn an_unavailable_registry_neither_accepts_nor_penalises_nor_consumes() {
    let (net, registry) = air_net(1);
    let flaky = Arc::new(Flaky {
        inner: registry,
        down: AtomicBool::new(true),
    });
    let mut v = VerifierBuilder::new(VerifierConfig::new(domain()))
        .without_builtins()
        .kind_type::<AirQuality>()
        .build(Arc::clone(&flaky), MemoryReplayStore::new())
        .unwrap();
    let e = air(&net.keys[0], 1, 10);
    let r = v.verify_one(Input::Envelope(&e), NOW).unwrap_err();
    assert_eq!(r, Rejection::RegistryUnavailable);
    assert!(!r.penalises_sender());
    assert_eq!(v.counters().signatures_checked, 0);
    // once the registry answers, the same item (same sequence number) is accepted
    flaky.down.store(false, Ordering::SeqCst);
    assert!(v.verify_one(Input::Envelope(&e), NOW).is_ok());
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW),
        Err(Rejection::Replayed)
    );
    // an unknown device is still a penalised rejection
    let stranger = air(&key(99), 1, 10);
    let r = v.verify_one(Input::Envelope(&stranger), NOW).unwrap_err();
    assert_eq!(r, Rejection::UnknownDevice);
    assert!(r.penalises_sender());
}

#[test]
fn reports_with_network_reasons_round_trip_through_json() {
    let (net, registry) = air_net(1);
    let mut v = air_verifier(registry);
    let e = air(&net.keys[0], 1, 99_999);
    v.verify_one(Input::Envelope(&e), NOW).unwrap_err();
    let epoch = v.config().schedule.epoch_of(NOW).unwrap();
    let report = v.take_report(epoch).unwrap();
    let json = serde_json::to_string(&report).unwrap();
    assert!(
        json.contains("\"air_bounds/pm25_out_of_range\":1"),
        "{json}"
    );
    let back: EpochReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn every_rejection_code_is_unique_and_parses_back() {
    let mut seen = std::collections::BTreeSet::new();
    for r in Rejection::BUILT_IN {
        let code = r.code();
        assert!(seen.insert(code.to_string()), "duplicate {code}");
        assert_eq!(code.parse::<Rejection>().unwrap(), r);
    }
    assert!("no_such_reason".parse::<Rejection>().is_err());
    assert!("Bad/Code".parse::<Rejection>().is_err());
    let p: Rejection = "mapping/off_route".parse().unwrap();
    assert_eq!(p.policy(), Some(Label::new("mapping")));
    // labels are checked
    assert!(Label::parse("").is_err());
    assert!(Label::parse("9lives").is_err());
    assert!(Label::parse("UPPER").is_err());
    assert!(Label::parse(&"a".repeat(32)).is_err());
    assert_eq!(Label::parse("ok_label_2").unwrap().as_str(), "ok_label_2");
    // kind sets are bounded and exact
    let many: Vec<AttestationKind> = (0..9).map(AttestationKind::application).collect();
    assert!(KindSet::try_of(&many).is_none());
    let s = KindSet::try_of(&many[..8]).unwrap();
    assert!(s.contains(many[7]) && !s.contains(many[8]));
}

/// A network's decoder with a bug: it panics on some bytes.
struct Buggy;

impl depin_attest::Kind for Buggy {
    fn kind(&self) -> AttestationKind {
        AttestationKind::application(0x0b0)
    }
    fn name(&self) -> Label {
        Label::new("buggy")
    }
    fn decode(&self, payload: &[u8]) -> Result<depin_attest::Payload, Rejection> {
        if payload.first() == Some(&0xff) {
            panic!("decoder bug");
        }
        Ok(depin_attest::Payload::new(payload.to_vec()))
    }
}

#[test]
fn a_panicking_decoder_refuses_the_item_and_the_verifier_goes_on() {
    let net = Net::new(1);
    let mut registry = MemoryRegistry::new();
    registry
        .insert(net.id(0), DeviceRecord::active(KindSet::ALL))
        .unwrap();
    let mut v = VerifierBuilder::new(VerifierConfig::new(domain()))
        .without_builtins()
        .kind(Buggy)
        .build(registry, MemoryReplayStore::new())
        .unwrap();
    let body = |seq, payload: Vec<u8>| EnvelopeBody {
        signer: net.id(0),
        seq,
        timestamp: NOW,
        kind: AttestationKind::application(0x0b0),
        payload,
    };
    let bad = Envelope::sign(&domain(), &net.keys[0], &body(1, vec![0xff, 1])).unwrap();
    let good = Envelope::sign(&domain(), &net.keys[0], &body(2, vec![1, 2])).unwrap();
    let r = v.verify_batch(&[Input::Envelope(&bad), Input::Envelope(&good)], NOW);
    assert_eq!(r[0], Err(Rejection::Malformed));
    assert!(r[1].is_ok());
    // and the verifier still works afterwards
    let again = Envelope::sign(&domain(), &net.keys[0], &body(3, vec![3])).unwrap();
    assert!(v.verify_one(Input::Envelope(&again), NOW).is_ok());
}
