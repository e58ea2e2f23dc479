//! Network-defined evidence: a named, versioned rule ("uptime_hours") whose factor value a
//! verifier recomputes from the published parameters and the recorded evidence, refused when
//! the rule, its version, its parameters or the value do not match the published rules.

use std::collections::BTreeSet;
use std::sync::Arc;

use depin_rewards::receipt::{canonical_encoding, EpochTiming, RuleSet};
use depin_rewards::score::{
    EpochWindow, Evidence, EvidenceRule, EvidenceRules, Factor, FactorKind, FactorRule,
    ScoreBreakdown, ScoreRules,
};
use depin_rewards::{
    verify_epoch, verify_epoch_with, verify_receipt, verify_receipt_with, EpochRewards, Error,
    Fixed, Mode, Result, RewardReceipt,
};

const EPOCH: u64 = 19_700;
const DAY: u64 = 86_400;
const HOUR: u64 = 3_600;
const POOL: u128 = 1_000_003;
const THRESHOLD: u32 = 10;

/// Hours of verified uptime counted from frame timestamps.
///
/// * `params`: the minimum number of distinct hours, `u32` little-endian;
/// * `data`: frame timestamps (Unix seconds), each `u64` little-endian;
/// * value: the number of distinct hours of the epoch window with at least one frame, as an
///   integer, or zero below the threshold. Needs the epoch window.
struct UptimeHours {
    version: u32,
}

const V1: UptimeHours = UptimeHours { version: 1 };

impl EvidenceRule for UptimeHours {
    fn name(&self) -> &str {
        "uptime_hours"
    }

    fn version(&self) -> u32 {
        self.version
    }

    fn evaluate(&self, params: &[u8], data: &[u8], window: Option<EpochWindow>) -> Result<Fixed> {
        let threshold: [u8; 4] = params
            .try_into()
            .map_err(|_| Error::InvalidParameter("uptime_hours params: one u32 threshold"))?;
        let threshold = u32::from_le_bytes(threshold);
        let w = window.ok_or(Error::InvalidParameter(
            "uptime_hours needs the epoch window",
        ))?;
        if !data.len().is_multiple_of(8) {
            return Err(Error::InvalidParameter("uptime_hours data: u64 timestamps"));
        }
        let mut hours: BTreeSet<u64> = BTreeSet::new();
        for chunk in data.chunks_exact(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            let t = u64::from_le_bytes(b);
            if (w.start..w.end).contains(&t) {
                hours.insert((t - w.start) / HOUR);
            }
        }
        let n = hours.len() as u128;
        if n < u128::from(threshold) {
            return Ok(Fixed::ZERO);
        }
        Fixed::from_int(n)
    }
}

/// Another network's rule, to fill a registry that lacks "uptime_hours".
struct Kwh;

impl EvidenceRule for Kwh {
    fn name(&self) -> &str {
        "kwh"
    }

    fn version(&self) -> u32 {
        1
    }

    fn evaluate(
        &self,
        _params: &[u8],
        _data: &[u8],
        _window: Option<EpochWindow>,
    ) -> Result<Fixed> {
        Ok(Fixed::ONE)
    }
}

fn window() -> EpochWindow {
    EpochWindow {
        start: EPOCH * DAY,
        end: (EPOCH + 1) * DAY,
    }
}

fn params(threshold: u32) -> Vec<u8> {
    threshold.to_le_bytes().to_vec()
}

/// One frame in each of the first `hours` hours of the epoch, plus a second frame in hour 0
/// (counted once) and one before the epoch (not counted).
fn frames(hours: u64) -> Vec<u8> {
    let start = window().start;
    let mut t: Vec<u64> = (0..hours).map(|h| start + h * HOUR + 17).collect();
    t.push(start + 1_000);
    t.push(start - 5);
    t.into_iter().flat_map(u64::to_le_bytes).collect()
}

fn registry(version: u32) -> EvidenceRules {
    EvidenceRules::new().with(UptimeHours { version }).unwrap()
}

/// Published rules: uptime hours under `threshold` (rule version `version`) × a given quality
/// of at most one.
fn score_rules_v(threshold: u32, version: u32) -> ScoreRules {
    ScoreRules::new(FactorRule::new(
        "uptime_hours",
        FactorKind::custom(&UptimeHours { version }, params(threshold)),
    ))
    .with(FactorRule::new(
        "quality",
        FactorKind::Given {
            max: Some(Fixed::ONE),
        },
    ))
}

fn score_rules(threshold: u32) -> ScoreRules {
    score_rules_v(threshold, 1)
}

/// An oracle's score: `hours` hours of frames evaluated under `threshold` by `rule`.
fn score_by(rule: &dyn EvidenceRule, hours: u64, threshold: u32) -> ScoreBreakdown {
    let base = Factor::from_custom(
        "uptime_hours",
        rule,
        &params(threshold),
        frames(hours),
        Some(window()),
    )
    .unwrap();
    ScoreBreakdown::new(base)
        .with(Factor::given("quality", "0.5".parse().unwrap()))
        .unwrap()
}

fn score(hours: u64, threshold: u32) -> ScoreBreakdown {
    score_by(&V1, hours, threshold)
}

fn rule_set(threshold: u32) -> RuleSet {
    RuleSet::new("uptime-net", 1, Mode::LargestRemainder)
        .with_timing(EpochTiming {
            genesis_secs: 0,
            epoch_secs: DAY,
        })
        .with_category("uptime", score_rules(threshold))
}

fn epoch() -> EpochRewards<u64> {
    let scores = (0..6u64)
        .map(|i| (100 + i, score(8 + 2 * i, THRESHOLD)))
        .collect();
    EpochRewards::compute(EPOCH, "uptime", POOL, Mode::LargestRemainder, scores).unwrap()
}

#[test]
fn custom_factor_verifies_against_published_rules() {
    let rules = score_rules(THRESHOLD);
    let reg = registry(1);
    let s = score(12, THRESHOLD);
    assert_eq!(s.base.value, Fixed::from_int(12).unwrap());
    assert_eq!(s.share, Fixed::from_int(6).unwrap());
    assert_eq!(
        s.base.evidence,
        Evidence::Custom {
            rule: "uptime_hours".into(),
            version: 1,
            data: frames(12),
        }
    );
    rules.verify_with(&s, Some(window()), &reg).unwrap();

    // below the threshold the factor is zero, and that verifies too
    let low = score(9, THRESHOLD);
    assert_eq!(low.share, Fixed::ZERO);
    rules.verify_with(&low, Some(window()), &reg).unwrap();

    // without the rule, custom evidence cannot be checked at all
    assert_eq!(
        rules.verify(&s, Some(window())),
        Err(Error::UnknownEvidenceRule)
    );
    assert_eq!(s.verify(), Err(Error::UnknownEvidenceRule));
    assert_eq!(s.base.evidence.evaluate(), Err(Error::UnknownEvidenceRule));
    assert_eq!(
        Factor::from_evidence("uptime_hours", s.base.evidence.clone()),
        Err(Error::UnknownEvidenceRule)
    );

    // the evidence re-runs with a registry and the published parameters
    assert_eq!(
        s.base
            .evidence
            .evaluate_with(&reg, Some(params(THRESHOLD).as_slice()), Some(window())),
        Ok(Some(Fixed::from_int(12).unwrap()))
    );
    assert!(matches!(
        s.base.evidence.evaluate_with(&reg, None, Some(window())),
        Err(Error::InvalidParameter(_))
    ));
    // built-in evidence ignores the registry
    assert_eq!(
        Evidence::Given.evaluate_with(&EvidenceRules::new(), None, None),
        Ok(None)
    );

    // the rule is given the window; this one refuses to run without it
    assert!(matches!(
        rules.verify_with(&s, None, &reg),
        Err(Error::InvalidParameter(_))
    ));
    // and frames outside the window do not count
    let next = EpochWindow {
        start: window().end,
        end: window().end + DAY,
    };
    assert_eq!(
        rules.verify_with(&s, Some(next), &reg),
        Err(Error::ReceiptMismatch("factor value"))
    );

    // published rules validate, and custom rules do not require the epoch timing
    rules.validate().unwrap();
    assert!(!rules.needs_window());
    let mut unnamed = rules.clone();
    unnamed.base.kind = FactorKind::Custom {
        rule: String::new(),
        version: 1,
        params: params(THRESHOLD),
    };
    assert!(matches!(
        unnamed.validate(),
        Err(Error::InvalidParameter(_))
    ));
}

#[test]
fn another_version_is_refused() {
    let rules = score_rules(THRESHOLD);
    let s = score(12, THRESHOLD);
    // the verifier only has version 2 of the rule
    assert_eq!(
        rules.verify_with(&s, Some(window()), &registry(2)),
        Err(Error::EvidenceRuleVersion {
            registered: 2,
            required: 1
        })
    );
    // evidence made under version 2, published rules at version 1
    let v2 = score_by(&UptimeHours { version: 2 }, 12, THRESHOLD);
    assert_eq!(
        rules.verify_with(&v2, Some(window()), &registry(2)),
        Err(Error::FactorMismatch {
            factor: 0,
            reason: "evidence rule version"
        })
    );
    // published at version 2, the verifier has version 1
    assert_eq!(
        score_rules_v(THRESHOLD, 2).verify_with(&v2, Some(window()), &registry(1)),
        Err(Error::EvidenceRuleVersion {
            registered: 1,
            required: 2
        })
    );
    score_rules_v(THRESHOLD, 2)
        .verify_with(&v2, Some(window()), &registry(2))
        .unwrap();
}

#[test]
fn unknown_rules_and_other_kinds_are_refused() {
    let rules = score_rules(THRESHOLD);
    let s = score(12, THRESHOLD);
    assert_eq!(
        rules.verify_with(&s, Some(window()), &EvidenceRules::new()),
        Err(Error::UnknownEvidenceRule)
    );
    let others = EvidenceRules::new().with(Kwh).unwrap();
    assert_eq!(
        rules.verify_with(&s, Some(window()), &others),
        Err(Error::UnknownEvidenceRule)
    );

    // evidence naming another rule than the published one
    let mut t = s.clone();
    if let Evidence::Custom { rule, .. } = &mut t.base.evidence {
        *rule = "kwh".into();
    }
    let both = EvidenceRules::new().with(Kwh).unwrap().with(V1).unwrap();
    assert_eq!(
        rules.verify_with(&t, Some(window()), &both),
        Err(Error::FactorMismatch {
            factor: 0,
            reason: "evidence rule"
        })
    );

    // custom evidence under a built-in kind, built-in evidence under a custom kind
    let builtin = ScoreRules::new(FactorRule::new("uptime_hours", FactorKind::Hip15Witness))
        .with(FactorRule::new("quality", FactorKind::Given { max: None }));
    assert_eq!(
        builtin.verify_with(&s, Some(window()), &both),
        Err(Error::FactorMismatch {
            factor: 0,
            reason: "evidence kind"
        })
    );
    let witness = ScoreBreakdown::new(
        Factor::from_evidence("uptime_hours", Evidence::Hip15Witness { witnesses: 5 }).unwrap(),
    )
    .with(Factor::given("quality", Fixed::ONE))
    .unwrap();
    assert_eq!(
        rules.verify_with(&witness, Some(window()), &both),
        Err(Error::FactorMismatch {
            factor: 0,
            reason: "evidence kind"
        })
    );
}

#[test]
fn the_published_parameters_are_used_never_the_oracles() {
    let rules = score_rules(THRESHOLD);
    let reg = registry(1);
    // an oracle scoring 5 hours under a lenient threshold of 1: consistent with its own
    // parameters, but the receipt cannot carry them, and the published threshold gives zero
    let lenient = score(5, 1);
    assert_eq!(lenient.base.value, Fixed::from_int(5).unwrap());
    assert_eq!(
        rules.verify_with(&lenient, Some(window()), &reg),
        Err(Error::ReceiptMismatch("factor value"))
    );
    // under the lenient rules it would verify: the parameters are what decides
    score_rules(1)
        .verify_with(&lenient, Some(window()), &reg)
        .unwrap();
    // and the parameters are part of the rule-set commitment
    assert_ne!(
        rule_set(THRESHOLD).commitment().unwrap(),
        rule_set(1).commitment().unwrap()
    );
    let mut v2 = rule_set(THRESHOLD);
    v2.categories[0].score.base.kind =
        FactorKind::custom(&UptimeHours { version: 2 }, params(THRESHOLD));
    assert_ne!(
        rule_set(THRESHOLD).commitment().unwrap(),
        v2.commitment().unwrap()
    );
}

#[test]
fn forged_values_and_given_evidence_are_refused() {
    let rules = score_rules(THRESHOLD);
    let reg = registry(1);
    let s = score(12, THRESHOLD);

    let mut t = s.clone();
    t.base.value = Fixed::from_raw(t.base.value.raw() + 1);
    t.share = t.recompute().unwrap();
    assert_eq!(
        rules.verify_with(&t, Some(window()), &reg),
        Err(Error::ReceiptMismatch("factor value"))
    );

    // more hours claimed than the frames show
    let mut t = s.clone();
    t.base.value = Fixed::from_int(20).unwrap();
    t.share = t.recompute().unwrap();
    assert_eq!(
        rules.verify_with(&t, Some(window()), &reg),
        Err(Error::ReceiptMismatch("factor value"))
    );

    // malformed evidence is an error of the rule, not a panic
    let mut t = s.clone();
    if let Evidence::Custom { data, .. } = &mut t.base.evidence {
        data.pop();
    }
    assert!(matches!(
        rules.verify_with(&t, Some(window()), &reg),
        Err(Error::InvalidParameter(_))
    ));

    // a share that does not follow from the factors
    let mut t = s.clone();
    t.share = Fixed::from_int(7).unwrap();
    assert_eq!(
        rules.verify_with(&t, Some(window()), &reg),
        Err(Error::ReceiptMismatch("share"))
    );

    // Given evidence where the rules require the custom rule
    let mut t = s.clone();
    t.base = Factor::given("uptime_hours", Fixed::from_int(12).unwrap());
    assert_eq!(
        rules.verify_with(&t, Some(window()), &reg),
        Err(Error::GivenNotAllowed { factor: 0 })
    );
}

#[test]
fn receipts_with_custom_factors_verify_end_to_end() {
    let rules = rule_set(THRESHOLD);
    rules.validate().unwrap();
    let reg = registry(1);
    let epoch = epoch();

    // publishing checks the epoch against the rules, which needs the rule
    assert_eq!(epoch.publish(&rules), Err(Error::UnknownEvidenceRule));
    let published = epoch.publish_with(&rules, &reg).unwrap();
    assert_eq!(published.rules, rules.commitment().unwrap());
    let receipts = epoch.receipts_with_proofs().unwrap();
    assert_eq!(receipts.len(), 6);
    for (r, proof) in &receipts {
        verify_receipt_with(r, proof, &published, &rules, &reg).unwrap();
        rules
            .verify_score_with(EPOCH, "uptime", &r.score, &reg)
            .unwrap();
        assert_eq!(
            verify_receipt(r, proof, &published, &rules),
            Err(Error::UnknownEvidenceRule)
        );
        assert_eq!(
            rules.verify_score(EPOCH, "uptime", &r.score),
            Err(Error::UnknownEvidenceRule)
        );
    }
    let all: Vec<RewardReceipt<u64>> = receipts.iter().map(|(r, _)| r.clone()).collect();
    verify_epoch_with(&all, &published, &rules, &reg).unwrap();
    assert_eq!(
        verify_epoch(&all, &published, &rules),
        Err(Error::UnknownEvidenceRule)
    );
    let paid: u128 = all.iter().map(|r| r.amount).sum();
    assert_eq!(paid, POOL);
    // 8 hours are below the threshold: nothing
    assert_eq!(epoch.receipt(&100).unwrap().amount, 0);
    assert!(epoch.receipt(&105).unwrap().amount > 0);

    let (r, proof) = receipts
        .iter()
        .find(|(r, _)| r.device == 103)
        .cloned()
        .unwrap();
    let verify = |t: &RewardReceipt<u64>| verify_receipt_with(t, &proof, &published, &rules, &reg);
    verify(&r).unwrap();

    // more frames, with the value made consistent: the score checks out, but the receipt is
    // not the published one
    let mut t = r.clone();
    let more = Factor::from_custom(
        "uptime_hours",
        &V1,
        &params(THRESHOLD),
        frames(24),
        Some(window()),
    )
    .unwrap();
    t.score = ScoreBreakdown::new(more)
        .with(t.score.multipliers[0].clone())
        .unwrap();
    assert_eq!(verify(&t), Err(Error::NotInEpoch));

    // a value computed under lenient parameters
    let mut t = r.clone();
    t.score = score(5, 1);
    assert_eq!(verify(&t), Err(Error::ReceiptMismatch("factor value")));

    // the value forged
    let mut t = r.clone();
    t.score.base.value = Fixed::from_int(23).unwrap();
    t.score.share = t.score.recompute().unwrap();
    assert_eq!(verify(&t), Err(Error::ReceiptMismatch("factor value")));

    // Given in place of the custom evidence
    let mut t = r.clone();
    t.score.base = Factor::given("uptime_hours", r.score.base.value);
    assert_eq!(verify(&t), Err(Error::GivenNotAllowed { factor: 0 }));

    // the verifier's rule in another version, or rules with other parameters
    assert_eq!(
        verify_receipt_with(&r, &proof, &published, &rules, &registry(2)),
        Err(Error::EvidenceRuleVersion {
            registered: 2,
            required: 1
        })
    );
    assert_eq!(
        verify_receipt_with(&r, &proof, &published, &rule_set(1), &reg),
        Err(Error::RuleSetMismatch)
    );

    // receipts survive serialisation, byte for byte
    for (r, proof) in &receipts {
        let json = serde_json::to_string(r).unwrap();
        let back: RewardReceipt<u64> = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, r);
        assert_eq!(back.leaf().unwrap(), r.leaf().unwrap());
        let bin = postcard::to_allocvec(r).unwrap();
        let back: RewardReceipt<u64> = postcard::from_bytes(&bin).unwrap();
        assert_eq!(&back, r);
        verify_receipt_with(&back, proof, &published, &rules, &reg).unwrap();
    }
    let json = serde_json::to_string(&rules).unwrap();
    let rules_back: RuleSet = serde_json::from_str(&json).unwrap();
    assert_eq!(rules_back, rules);
    assert_eq!(
        rules_back.commitment().unwrap(),
        rules.commitment().unwrap()
    );
}

/// A rule that needs the window under a rule set without epoch timing: the rule set is valid,
/// but no epoch under it can be published (fails closed).
#[test]
fn a_rule_needing_the_window_fails_closed_without_timing() {
    let untimed = RuleSet::new("uptime-net", 1, Mode::LargestRemainder)
        .with_category("uptime", score_rules(THRESHOLD));
    untimed.validate().unwrap();
    assert_eq!(untimed.window(EPOCH), Ok(None));
    assert!(matches!(
        epoch().publish_with(&untimed, &registry(1)),
        Err(Error::InvalidParameter(_))
    ));
}

#[test]
fn custom_variants_encode_after_the_built_in_ones() {
    let evidence = Evidence::Custom {
        rule: "ab".into(),
        version: 2,
        data: vec![7, 8],
    };
    let mut want = vec![0, 0, 0, 7];
    want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2, b'a', b'b']);
    want.extend_from_slice(&[0, 0, 0, 2]);
    want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2, 7, 8]);
    assert_eq!(canonical_encoding(&evidence).unwrap(), want);
    let kind = FactorKind::Custom {
        rule: "ab".into(),
        version: 2,
        params: vec![7, 8],
    };
    assert_eq!(canonical_encoding(&kind).unwrap(), want);
    // the built-in variants keep their indices; variants added later come after `Custom`
    assert_eq!(canonical_encoding(&Evidence::Given).unwrap(), [0, 0, 0, 0]);
    let trust = depin_rewards::policy::trust::DeviceTrustPolicy::v1();
    let added = canonical_encoding(&Evidence::DeviceTrust {
        policy: trust.clone(),
        level: "maker".into(),
    })
    .unwrap();
    assert_eq!(&added[..4], &[0, 0, 0, 8]);
    let added = canonical_encoding(&FactorKind::DeviceTrust { policy: trust }).unwrap();
    assert_eq!(&added[..4], &[0, 0, 0, 8]);
    assert_eq!(
        canonical_encoding(&FactorKind::Hip15Witness).unwrap(),
        [0, 0, 0, 2]
    );
    assert_eq!(
        serde_json::to_string(&evidence).unwrap(),
        r#"{"custom":{"rule":"ab","version":2,"data":[7,8]}}"#
    );
    assert_eq!(
        serde_json::to_string(&kind).unwrap(),
        r#"{"custom":{"rule":"ab","version":2,"params":[7,8]}}"#
    );
    let back: Evidence = serde_json::from_str(&serde_json::to_string(&evidence).unwrap()).unwrap();
    assert_eq!(back, evidence);
}

#[test]
fn the_registry_holds_one_rule_per_name() {
    let reg = EvidenceRules::default();
    assert!(reg.is_empty());
    assert_eq!(format!("{reg:?}"), "EvidenceRules { rules: [] }");

    let reg = EvidenceRules::new()
        .with(V1)
        .unwrap()
        .with(Arc::new(Kwh))
        .unwrap();
    assert_eq!(reg.len(), 2);
    assert_eq!(reg.names().collect::<Vec<_>>(), ["kwh", "uptime_hours"]);
    assert_eq!(
        format!("{reg:?}"),
        r#"EvidenceRules { rules: [("kwh", 1), ("uptime_hours", 1)] }"#
    );
    assert_eq!(reg.get("uptime_hours").map(|r| r.version()), Some(1));
    assert!(reg.get("uptime_minutes").is_none());

    // the same name twice is refused, in any version
    assert_eq!(
        registry(1).with(UptimeHours { version: 2 }).err(),
        Some(Error::DuplicateEvidenceRule)
    );
    let mut reg = registry(1);
    assert_eq!(
        reg.insert(Box::new(UptimeHours { version: 1 })),
        Err(Error::DuplicateEvidenceRule)
    );
    assert_eq!(reg.len(), 1);
    assert_eq!(reg.resolve("uptime_hours", 1).map(|r| r.version()), Ok(1));

    // a rule needs a name
    struct Unnamed;
    impl EvidenceRule for Unnamed {
        fn name(&self) -> &str {
            ""
        }
        fn version(&self) -> u32 {
            1
        }
        fn evaluate(&self, _: &[u8], _: &[u8], _: Option<EpochWindow>) -> Result<Fixed> {
            Ok(Fixed::ZERO)
        }
    }
    assert!(matches!(
        EvidenceRules::new().with(Unnamed),
        Err(Error::InvalidParameter(_))
    ));

    // registries are shareable across threads
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<EvidenceRules>();
}
