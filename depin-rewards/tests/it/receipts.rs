//! Receipts: every payout is recomputed from the published rules and checked against the
//! epoch's published summary and receipt root.

use depin_rewards::policy::hex_density::{DensityConfig, HexDensityMap};
use depin_rewards::policy::location::LocationTrustPolicy;
use depin_rewards::policy::speedtest::{mbps, SpeedTestPolicy, SpeedTestSample};
use depin_rewards::policy::uptime::UptimePolicy;
use depin_rewards::pools::{PoolPlan, PoolSplit, Redistribution};
use depin_rewards::receipt::{EpochTiming, PublishedEpoch, ReceiptProof, RuleSet};
use depin_rewards::score::{Evidence, Factor, FactorKind, FactorRule, ScoreBreakdown, ScoreRules};
use depin_rewards::{
    verify_epoch, verify_receipt, EpochRewards, Error, Fixed, Mode, RewardReceipt,
};

use crate::golden_path;

const CELLS: [u64; 8] = [
    631210990515536895,
    631210990515536895,
    631210990515537919,
    631210990515722239,
    631210990515722239,
    631210990516363775,
    631210990517144063,
    631210990517264895,
];

fn plan() -> PoolPlan {
    PoolPlan {
        emission: 88_797_814_207_650,
        split: PoolSplit::helium_iot(),
        mode: Mode::LargestRemainder,
        redistributions: vec![Redistribution {
            from: "data".into(),
            used: 1_234_567_890,
            to: PoolSplit::helium_iot_unused_data(),
            mode: Mode::LargestRemainder,
        }],
    }
}

/// The IoT network's published rules: HIP-15 witness units × HIP-17 / HIP-104 hex density,
/// pools from the Helium IoT split.
fn iot_rules(mode: Mode) -> RuleSet {
    RuleSet::new("iot", 1, mode)
        .with_split(PoolSplit::helium_iot())
        .with_category(
            "witnesses",
            ScoreRules::new(FactorRule::new("hip15_witness", FactorKind::Hip15Witness)).with(
                FactorRule::new(
                    "hex_density",
                    FactorKind::HexDensity {
                        config: DensityConfig::HIP104,
                    },
                ),
            ),
        )
}

/// The mobile network's published rules: given coverage points × speed tier × location trust
/// × uptime gate, daily epochs from the Unix epoch.
fn mobile_rules() -> RuleSet {
    RuleSet::new("mobile", 1, Mode::LargestRemainder)
        .with_timing(EpochTiming {
            genesis_secs: 0,
            epoch_secs: 86_400,
        })
        .with_category(
            "poc",
            ScoreRules::new(FactorRule::new(
                "coverage_points",
                FactorKind::Given { max: None },
            ))
            .with(FactorRule::new(
                "speed",
                FactorKind::SpeedTests {
                    policy: SpeedTestPolicy::HELIUM_MOBILE,
                },
            ))
            .with(FactorRule::new(
                "location",
                FactorKind::LocationTrust {
                    policy: LocationTrustPolicy::HELIUM_MOBILE,
                },
            ))
            .with(FactorRule::new(
                "uptime",
                FactorKind::Uptime {
                    policy: UptimePolicy::HELIUM_MOBILE,
                },
            )),
        )
}

/// Receipts with proofs and the published summary of an epoch.
type Published<K> = (Vec<(RewardReceipt<K>, ReceiptProof)>, PublishedEpoch<K>);

fn publish<K: Ord + Clone + serde::Serialize>(
    epoch: &EpochRewards<K>,
    rules: &RuleSet,
) -> Published<K> {
    (
        epoch.receipts_with_proofs().unwrap(),
        epoch.publish(rules).unwrap(),
    )
}

/// An IoT witness epoch: HIP-15 witness units × HIP-17 hex scale, pool from the plan.
fn iot_epoch(mode: Mode) -> EpochRewards<String> {
    let map = HexDensityMap::build(&CELLS, &DensityConfig::HIP104).unwrap();
    let scores: Vec<(String, ScoreBreakdown)> = CELLS
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let base = Factor::from_evidence(
                "hip15_witness",
                Evidence::Hip15Witness {
                    witnesses: 3 + i as u32,
                },
            )
            .unwrap();
            let density = Factor::from_evidence(
                "hex_density",
                Evidence::HexDensity {
                    steps: map.steps(*cell).unwrap(),
                },
            )
            .unwrap();
            (
                format!("hotspot-{i}"),
                ScoreBreakdown::new(base).with(density).unwrap(),
            )
        })
        .collect();
    let pool = plan().compute().unwrap().get("witnesses").unwrap();
    EpochRewards::compute(19_700, "witnesses", pool, mode, scores)
        .unwrap()
        .with_pool_plan(plan())
        .unwrap()
}

/// A mobile epoch: coverage points × speed tier × location trust × uptime gate.
fn mobile_epoch() -> EpochRewards<u64> {
    let day = 19_700 * 86_400u64;
    let tests = |down: u64| -> Vec<SpeedTestSample> {
        (0..3)
            .map(|i| SpeedTestSample {
                timestamp: day + 80_000 + i,
                upload_bps: mbps(9),
                download_bps: mbps(down),
                latency_ms: 40,
            })
            .collect()
    };
    let scores = (0..5u64)
        .map(|i| {
            let s = ScoreBreakdown::new(Factor::given(
                "coverage_points",
                Fixed::from_int(u128::from(16 + i)).unwrap(),
            ))
            .with(
                Factor::from_evidence(
                    "speed",
                    Evidence::SpeedTests {
                        policy: SpeedTestPolicy::HELIUM_MOBILE,
                        epoch_end: day + 86_400,
                        samples: tests(40 + 20 * i),
                    },
                )
                .unwrap(),
            )
            .unwrap()
            .with(
                Factor::from_evidence(
                    "location",
                    Evidence::LocationTrust {
                        policy: LocationTrustPolicy::HELIUM_MOBILE,
                        distances_m: vec![10, 350 + 20 * i as u32, 20],
                    },
                )
                .unwrap(),
            )
            .unwrap()
            .with(
                Factor::from_evidence(
                    "uptime",
                    Evidence::Uptime {
                        policy: UptimePolicy::HELIUM_MOBILE,
                        epoch_start: day,
                        heartbeats: (0..10 + 2 * i).map(|h| day + h * 3600).collect(),
                    },
                )
                .unwrap(),
            )
            .unwrap();
            (1000 + i, s)
        })
        .collect();
    EpochRewards::compute(19_700, "poc", 1_000_000_007, Mode::LargestRemainder, scores).unwrap()
}

#[test]
fn every_receipt_verifies_and_sums_to_the_pool() {
    for mode in [Mode::LargestRemainder, Mode::Floor] {
        let epoch = iot_epoch(mode);
        let rules = iot_rules(mode);
        let (receipts, published) = publish(&epoch, &rules);
        assert_eq!(receipts.len(), CELLS.len());
        for (r, proof) in &receipts {
            verify_receipt(r, proof, &published, &rules).unwrap();
        }
        let all: Vec<RewardReceipt<String>> = receipts.into_iter().map(|(r, _)| r).collect();
        verify_epoch(&all, &published, &rules).unwrap();
        let paid: u128 = all.iter().map(|r| r.amount).sum();
        assert_eq!(paid, published.paid);
        assert_eq!(
            paid + epoch.distribution().unallocated(),
            epoch.distribution().pool()
        );
        assert_eq!(published.unallocated(), epoch.distribution().unallocated());
        assert_eq!(published.rules, rules.commitment().unwrap());
        assert_eq!(
            published.receipts_root,
            epoch.receipt_tree().unwrap().root()
        );
    }
    let epoch = mobile_epoch();
    let rules = mobile_rules();
    let (receipts, published) = publish(&epoch, &rules);
    for (r, proof) in &receipts {
        verify_receipt(r, proof, &published, &rules).unwrap();
    }
    // devices below the uptime threshold score zero and get nothing
    assert_eq!(epoch.receipt(&1000).unwrap().amount, 0);
    assert!(epoch.receipt(&1004).unwrap().amount > 0);
}

#[test]
fn receipts_survive_serialisation() {
    let epoch = iot_epoch(Mode::LargestRemainder);
    let rules = iot_rules(Mode::LargestRemainder);
    let (receipts, published) = publish(&epoch, &rules);
    let json = serde_json::to_string(&published).unwrap();
    let back: PublishedEpoch<String> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, published);
    assert_eq!(back.commitment().unwrap(), published.commitment().unwrap());
    let bin = postcard::to_allocvec(&published).unwrap();
    let back: PublishedEpoch<String> = postcard::from_bytes(&bin).unwrap();
    assert_eq!(back, published);
    let json = serde_json::to_string(&rules).unwrap();
    let rules_back: RuleSet = serde_json::from_str(&json).unwrap();
    assert_eq!(
        rules_back.commitment().unwrap(),
        rules.commitment().unwrap()
    );
    for (r, proof) in &receipts {
        let json = serde_json::to_string(r).unwrap();
        let back: RewardReceipt<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, r);
        let json = serde_json::to_string(proof).unwrap();
        let proof_back: ReceiptProof = serde_json::from_str(&json).unwrap();
        assert_eq!(&proof_back, proof);
        verify_receipt(&back, &proof_back, &published, &rules_back).unwrap();
        let bin = postcard::to_allocvec(r).unwrap();
        let back: RewardReceipt<String> = postcard::from_bytes(&bin).unwrap();
        assert_eq!(&back, r);
        assert_eq!(back.leaf().unwrap(), r.leaf().unwrap());
    }
}

#[test]
fn tampering_is_detected() {
    let epoch = iot_epoch(Mode::LargestRemainder);
    let rules = iot_rules(Mode::LargestRemainder);
    let (receipts, published) = publish(&epoch, &rules);
    let (r, proof) = receipts
        .iter()
        .find(|(r, _)| r.cutoff.is_some() && r.amount > 0)
        .cloned()
        .unwrap();
    let verify = |t: &RewardReceipt<String>| verify_receipt(t, &proof, &published, &rules);
    verify(&r).unwrap();

    // any change of a receipt takes it out of the published tree
    let mut t = r.clone();
    t.amount += 1;
    assert_eq!(verify(&t), Err(Error::NotInEpoch));

    // epoch-wide values are the published ones, not the receipt's
    let mut t = r.clone();
    t.pool += 1;
    assert_eq!(verify(&t), Err(Error::EpochBinding("pool")));

    let mut t = r.clone();
    t.pool_plan = None;
    t.pool += 1_000_000;
    assert_eq!(verify(&t), Err(Error::EpochBinding("pool")));

    let mut t = r.clone();
    t.pool_plan = None;
    assert_eq!(verify(&t), Err(Error::EpochBinding("pool plan")));

    let mut t = r.clone();
    t.total_shares /= 2;
    assert_eq!(verify(&t), Err(Error::EpochBinding("total shares")));

    let mut t = r.clone();
    t.devices += 1;
    assert_eq!(verify(&t), Err(Error::EpochBinding("devices")));

    let mut t = r.clone();
    t.cutoff.as_mut().unwrap().remainder = u128::MAX;
    assert_eq!(verify(&t), Err(Error::EpochBinding("cutoff")));

    // the score is recomputed from its evidence under the published rules
    let mut t = r.clone();
    t.score.share = Fixed::from_raw(t.score.share.raw() + 1);
    assert_eq!(verify(&t), Err(Error::ReceiptMismatch("share")));

    let mut t = r.clone();
    t.score.base.value = Fixed::from_raw(t.score.base.value.raw() + 1);
    assert_eq!(verify(&t), Err(Error::ReceiptMismatch("factor value")));

    let mut t = r.clone();
    if let Evidence::Hip15Witness { witnesses } = &mut t.score.base.evidence {
        *witnesses += 10;
    }
    assert_eq!(verify(&t), Err(Error::ReceiptMismatch("factor value")));

    // a proof of another position, or for a tree of another size, does not verify
    let mut p = proof.clone();
    p.index = (p.index + 1) % p.size;
    assert_eq!(
        verify_receipt(&r, &p, &published, &rules),
        Err(Error::NotInEpoch)
    );
    let mut p = proof.clone();
    p.size += 1;
    assert_eq!(
        verify_receipt(&r, &p, &published, &rules),
        Err(Error::NotInEpoch)
    );
    let mut p = proof.clone();
    p.path.pop();
    assert_eq!(
        verify_receipt(&r, &p, &published, &rules),
        Err(Error::NotInEpoch)
    );

    // moving the cutoff changes who gets the extra unit (arithmetic of the receipt alone)
    let floor_of = |r: &RewardReceipt<String>| {
        let mut f = r.clone();
        f.cutoff = None;
        f.recompute_amount().unwrap()
    };
    let lucky = epoch
        .receipts()
        .find(|r| r.cutoff.is_some() && floor_of(r) + 1 == r.amount)
        .unwrap();
    let mut t = lucky.clone();
    t.cutoff.as_mut().unwrap().remainder = u128::MAX;
    assert_eq!(t.recompute_amount().unwrap() + 1, lucky.amount);
}

#[test]
fn duplicate_devices_and_empty_epochs_are_explicit() {
    let s = ScoreBreakdown::new(Factor::given("x", Fixed::ONE));
    assert_eq!(
        EpochRewards::compute(
            1,
            "c",
            10,
            Mode::Floor,
            vec![(1u8, s.clone()), (1u8, s.clone())]
        ),
        Err(Error::DuplicateEntry { index: 1 })
    );
    assert_eq!(
        EpochRewards::<u8>::compute(1, "c", 10, Mode::Floor, vec![]),
        Err(Error::EmptyEpoch)
    );
    let zero = ScoreBreakdown::new(Factor::given("x", Fixed::ZERO));
    assert_eq!(
        EpochRewards::compute(1, "c", 10, Mode::Floor, vec![(1u8, zero)]),
        Err(Error::ZeroTotalShares)
    );
    // a plan that does not produce the pool is refused
    let e = EpochRewards::compute(1, "witnesses", 10, Mode::Floor, vec![(1u8, s)]).unwrap();
    assert_eq!(
        e.clone().with_pool_plan(plan()),
        Err(Error::ReceiptMismatch("pool"))
    );
    // a rule set that needs the split refuses an epoch without its plan
    let rules = RuleSet::new("c", 1, Mode::Floor)
        .with_split(PoolSplit::helium_iot())
        .with_category(
            "witnesses",
            ScoreRules::new(FactorRule::new("x", FactorKind::Given { max: None })),
        );
    assert_eq!(
        e.publish(&rules),
        Err(Error::PublishedMismatch("pool plan missing"))
    );
    // rule sets themselves are checked
    let no_categories = RuleSet::new("c", 1, Mode::Floor);
    assert!(matches!(
        no_categories.validate(),
        Err(Error::InvalidParameter(_))
    ));
    let twice = RuleSet::new("c", 1, Mode::Floor)
        .with_category(
            "a",
            ScoreRules::new(FactorRule::new("x", FactorKind::Given { max: None })),
        )
        .with_category(
            "a",
            ScoreRules::new(FactorRule::new("x", FactorKind::Given { max: None })),
        );
    assert_eq!(twice.validate(), Err(Error::DuplicateEntry { index: 1 }));
    let mut untimed = mobile_rules();
    untimed.timing = None;
    assert!(matches!(
        untimed.validate(),
        Err(Error::InvalidParameter(_))
    ));
}

/// The receipts of both epochs, byte for byte (regression vector produced by this crate).
#[test]
fn golden_receipts() {
    let iot_e = iot_epoch(Mode::LargestRemainder);
    let iot: Vec<RewardReceipt<String>> = iot_e.receipts().collect();
    let mobile_e = mobile_epoch();
    let mobile: Vec<RewardReceipt<u64>> = mobile_e.receipts().collect();
    let value = serde_json::json!({ "iot_witnesses": iot, "mobile_poc": mobile });
    let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
    let path = golden_path("receipts.json");
    if std::env::var_os("DEPIN_REWARDS_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with DEPIN_REWARDS_BLESS=1)", path.display()));
    assert_eq!(
        text, want,
        "receipts changed; if intended, rerun with DEPIN_REWARDS_BLESS=1 and review the diff"
    );
    // and every receipt in the file verifies against its epoch's publication
    let file: serde_json::Value = serde_json::from_str(&want).unwrap();
    let rules = iot_rules(Mode::LargestRemainder);
    let (proofs, published) = publish(&iot_e, &rules);
    let from_file: Vec<RewardReceipt<String>> =
        serde_json::from_value(file["iot_witnesses"].clone()).unwrap();
    assert_eq!(from_file.len(), proofs.len());
    for (r, (_, proof)) in from_file.iter().zip(&proofs) {
        verify_receipt(r, proof, &published, &rules).unwrap();
    }
    verify_epoch(&from_file, &published, &rules).unwrap();
    let rules = mobile_rules();
    let (proofs, published) = publish(&mobile_e, &rules);
    let from_file: Vec<RewardReceipt<u64>> =
        serde_json::from_value(file["mobile_poc"].clone()).unwrap();
    assert_eq!(from_file.len(), proofs.len());
    for (r, (_, proof)) in from_file.iter().zip(&proofs) {
        verify_receipt(r, proof, &published, &rules).unwrap();
    }
    verify_epoch(&from_file, &published, &rules).unwrap();
}

/// The same epoch computed twice, with its devices offered in another order, publishes the
/// same commitment; changing any published parameter changes the rule-set commitment.
#[test]
fn commitments_are_deterministic_and_bind_every_parameter() {
    let rules = iot_rules(Mode::LargestRemainder);
    let a = iot_epoch(Mode::LargestRemainder).publish(&rules).unwrap();
    let b = iot_epoch(Mode::LargestRemainder).publish(&rules).unwrap();
    assert_eq!(a.commitment().unwrap(), b.commitment().unwrap());
    let receipts: Vec<RewardReceipt<String>> =
        iot_epoch(Mode::LargestRemainder).receipts().collect();
    let mut reversed = receipts.clone();
    reversed.reverse();
    let c = PublishedEpoch::from_receipts(rules.commitment().unwrap(), &reversed).unwrap();
    assert_eq!(c, a);
    verify_epoch(&reversed, &a, &rules).unwrap();

    let base = mobile_rules();
    let h = base.commitment().unwrap();
    let mut variants: Vec<RuleSet> = Vec::new();
    let mut v = base.clone();
    v.version += 1;
    variants.push(v);
    let mut v = base.clone();
    v.network = "mobile2".into();
    variants.push(v);
    let mut v = base.clone();
    v.mode = Mode::Floor;
    variants.push(v);
    let mut v = base.clone();
    v.timing = Some(EpochTiming {
        genesis_secs: 1,
        epoch_secs: 86_400,
    });
    variants.push(v);
    let mut v = base.clone();
    v.categories[0]
        .score
        .multipliers
        .retain(|m| m.name != "location");
    variants.push(v);
    let mut v = base.clone();
    v.categories[0].score.base.kind = FactorKind::Given {
        max: Some(Fixed::from_int(100).unwrap()),
    };
    variants.push(v);
    let mut v = base.clone();
    v.categories[0].score.multipliers[1].kind = FactorKind::LocationTrust {
        policy: LocationTrustPolicy {
            partial_score: Fixed::ONE,
            ..LocationTrustPolicy::HELIUM_MOBILE
        },
    };
    variants.push(v);
    let mut v = base.clone();
    v.categories[0].category = "poc2".into();
    variants.push(v);
    let mut seen = vec![h];
    for v in &variants {
        let c = v.commitment().unwrap();
        assert!(!seen.contains(&c), "{v:?}");
        seen.push(c);
    }
}
