//! Issue 23, "forged receipts verify": every forgery of the attack report, written the way the
//! attacker wrote it (public API only, the forged receipt made consistent with itself as the
//! old self-check required), is refused with a typed error, while honest receipts verify.
//!
//! The epoch: three devices in the "poc" category (given coverage points × speed tier ×
//! location trust × uptime gate) and a HIP-15 × HIP-17 "witnesses" category, under one
//! published rule set.

use depin_rewards::policy::hex_density::{DensityConfig, HexDensityMap};
use depin_rewards::policy::location::LocationTrustPolicy;
use depin_rewards::policy::speedtest::{mbps, SpeedTestPolicy, SpeedTestSample};
use depin_rewards::policy::uptime::UptimePolicy;
use depin_rewards::receipt::{EpochTiming, PublishedEpoch, ReceiptProof, RuleSet};
use depin_rewards::score::{Evidence, Factor, FactorKind, FactorRule, ScoreBreakdown, ScoreRules};
use depin_rewards::{
    verify_epoch, verify_receipt, EpochRewards, Error, Fixed, Mode, RewardReceipt,
};

const EPOCH: u64 = 19_700;
const DAY: u64 = 86_400;
const POOL: u128 = 1_000_000;
const WITNESS_POOL: u128 = 100_000;

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

fn poc_rules(coverage_max: Option<Fixed>) -> ScoreRules {
    ScoreRules::new(FactorRule::new(
        "coverage_points",
        FactorKind::Given { max: coverage_max },
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
    ))
}

/// The network's published rules.
fn rules_with(coverage_max: Option<Fixed>) -> RuleSet {
    RuleSet::new("attack-lab", 1, Mode::LargestRemainder)
        .with_timing(EpochTiming {
            genesis_secs: 0,
            epoch_secs: DAY,
        })
        .with_category("poc", poc_rules(coverage_max))
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

fn rules() -> RuleSet {
    rules_with(None)
}

/// A location policy the attacker would rather have: everything within 1 km is fully trusted.
fn lenient() -> LocationTrustPolicy {
    LocationTrustPolicy {
        full_trust_max_m: 1_000,
        partial_trust_max_m: 1_000,
        partial_score: Fixed::ONE,
    }
}

/// Coverage points × speed (good) × location trust (heartbeats 10 m, `far_m`, 20 m from the
/// asserted location) × uptime (`hours` hourly heartbeats; 12 are needed).
fn poc_score(epoch: u64, coverage: u128, far_m: u32, hours: u64) -> ScoreBreakdown {
    let start = epoch * DAY;
    let tests: Vec<SpeedTestSample> = (0..3)
        .map(|i| SpeedTestSample {
            timestamp: start + 80_000 + i,
            upload_bps: mbps(10),
            download_bps: mbps(100),
            latency_ms: 40,
        })
        .collect();
    ScoreBreakdown::new(Factor::given(
        "coverage_points",
        Fixed::from_int(coverage).unwrap(),
    ))
    .with(
        Factor::from_evidence(
            "speed",
            Evidence::SpeedTests {
                policy: SpeedTestPolicy::HELIUM_MOBILE,
                epoch_end: start + DAY,
                samples: tests,
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
                distances_m: vec![10, far_m, 20],
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
                epoch_start: start,
                heartbeats: (0..hours).map(|h| start + h * 3600).collect(),
            },
        )
        .unwrap(),
    )
    .unwrap()
}

/// Device 1: 16 points, trust 0.75, up. Device 2: 17 points but below the uptime bar (share
/// 0). Device 3: 18 points, trust 2/3 (one heartbeat 500 m away), up.
fn poc_scores(epoch: u64) -> Vec<(u64, ScoreBreakdown)> {
    vec![
        (1, poc_score(epoch, 16, 350, 24)),
        (2, poc_score(epoch, 17, 350, 10)),
        (3, poc_score(epoch, 18, 500, 24)),
    ]
}

fn poc_epoch(epoch: u64) -> EpochRewards<u64> {
    EpochRewards::compute(
        epoch,
        "poc",
        POOL,
        Mode::LargestRemainder,
        poc_scores(epoch),
    )
    .unwrap()
}

fn witness_epoch() -> EpochRewards<u64> {
    let map = HexDensityMap::build(&CELLS, &DensityConfig::HIP104).unwrap();
    let scores = CELLS
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
                10 + i as u64,
                ScoreBreakdown::new(base).with(density).unwrap(),
            )
        })
        .collect();
    EpochRewards::compute(
        EPOCH,
        "witnesses",
        WITNESS_POOL,
        Mode::LargestRemainder,
        scores,
    )
    .unwrap()
}

/// What the network publishes for an epoch, and what it hands to each device.
struct Publication {
    published: PublishedEpoch<u64>,
    receipts: Vec<(RewardReceipt<u64>, ReceiptProof)>,
}

impl Publication {
    fn of(epoch: &EpochRewards<u64>, rules: &RuleSet) -> Self {
        Publication {
            published: epoch.publish(rules).unwrap(),
            receipts: epoch.receipts_with_proofs().unwrap(),
        }
    }

    fn receipt(&self, device: u64) -> (RewardReceipt<u64>, ReceiptProof) {
        self.receipts
            .iter()
            .find(|(r, _)| r.device == device)
            .cloned()
            .unwrap()
    }

    fn all(&self) -> Vec<RewardReceipt<u64>> {
        self.receipts.iter().map(|(r, _)| r.clone()).collect()
    }

    fn verify(&self, r: &RewardReceipt<u64>, proof: &ReceiptProof) -> Result<(), Error> {
        verify_receipt(r, proof, &self.published, &rules())
    }
}

/// The attacker's finishing step after editing a score: recompute every value from its own
/// evidence, the share and the amount, so the receipt agrees with itself. The old
/// `verify_receipt` accepted every receipt this returns.
fn make_consistent(r: &mut RewardReceipt<u64>) {
    for f in std::iter::once(&mut r.score.base).chain(r.score.multipliers.iter_mut()) {
        if let Some(v) = f.evidence.evaluate().unwrap() {
            f.value = v;
        }
    }
    r.score.share = r.score.recompute().unwrap();
    r.amount = r.recompute_amount().unwrap();
    r.score.verify().unwrap();
}

#[test]
fn honest_receipts_verify() {
    let rules = rules();
    for epoch in [poc_epoch(EPOCH), witness_epoch()] {
        let p = Publication::of(&epoch, &rules);
        for (r, proof) in &p.receipts {
            p.verify(r, proof).unwrap();
        }
        verify_epoch(&p.all(), &p.published, &rules).unwrap();
        assert_eq!(p.published.paid, p.published.pool);
        let paid: u128 = p.all().iter().map(|r| r.amount).sum();
        assert_eq!(paid, p.published.pool);
    }
}

#[test]
fn a_changed_location_trust_policy_is_refused() {
    let p = Publication::of(&poc_epoch(EPOCH), &rules());
    let (honest, proof) = p.receipt(3);
    let mut forged = honest.clone();
    if let Evidence::LocationTrust { policy, .. } = &mut forged.score.multipliers[1].evidence {
        *policy = lenient();
    }
    make_consistent(&mut forged);
    assert!(forged.amount > honest.amount, "the forgery pays more");
    assert_eq!(
        p.verify(&forged, &proof),
        Err(Error::FactorMismatch {
            factor: 2,
            reason: "policy parameters"
        })
    );
    // bringing a rule set with the lenient policy does not help: it is not the published one
    let mut lenient_rules = rules();
    lenient_rules.categories[0].score.multipliers[1].kind =
        FactorKind::LocationTrust { policy: lenient() };
    assert_eq!(
        verify_receipt(&forged, &proof, &p.published, &lenient_rules),
        Err(Error::RuleSetMismatch)
    );
}

#[test]
fn a_deleted_multiplier_is_refused() {
    let p = Publication::of(&poc_epoch(EPOCH), &rules());
    // device 3 drops its location trust (2/3), device 2 its failed uptime gate (0)
    for (device, name) in [(3, "location"), (2, "uptime")] {
        let (honest, proof) = p.receipt(device);
        let mut forged = honest.clone();
        forged.score.multipliers.retain(|m| m.name != name);
        make_consistent(&mut forged);
        assert!(forged.amount > honest.amount, "the forgery pays more");
        assert_eq!(
            p.verify(&forged, &proof),
            Err(Error::FactorCountMismatch {
                expected: 3,
                found: 2
            })
        );
    }
}

#[test]
fn a_score_set_to_two_is_refused() {
    let rules = rules();
    let p = Publication::of(&poc_epoch(EPOCH), &rules);
    let two = Fixed::from_int(2).unwrap();

    // the share itself
    let (honest, proof) = p.receipt(2);
    let mut forged = honest.clone();
    forged.score.share = two;
    forged.amount = forged.recompute_amount().unwrap();
    assert!(forged.amount > honest.amount);
    assert_eq!(
        p.verify(&forged, &proof),
        Err(Error::ReceiptMismatch("share"))
    );

    // a HIP-15 base replaced by a given 2.0 (the cap of beaconer units)
    let w = Publication::of(&witness_epoch(), &rules);
    let (honest, proof) = w.receipt(10);
    let mut forged = honest.clone();
    forged.score.base = Factor::given("hip15_witness", two);
    make_consistent(&mut forged);
    assert!(forged.amount > honest.amount);
    assert_eq!(
        w.verify(&forged, &proof),
        Err(Error::GivenNotAllowed { factor: 0 })
    );

    // the base's value set to 2.0 over unchanged evidence
    let mut forged = honest.clone();
    forged.score.base.value = two;
    forged.score.share = forged.score.recompute().unwrap();
    forged.amount = forged.recompute_amount().unwrap();
    assert_eq!(
        w.verify(&forged, &proof),
        Err(Error::ReceiptMismatch("factor value"))
    );

    // witness evidence swapped for beaconer evidence (5 witnesses: 1.2 units instead of 0.76)
    let (honest, proof) = w.receipt(12);
    let mut forged = honest.clone();
    if let Evidence::Hip15Witness { witnesses } = forged.score.base.evidence {
        forged.score.base.evidence = Evidence::Hip15Beacon { witnesses };
    }
    make_consistent(&mut forged);
    assert!(forged.amount > honest.amount);
    assert_eq!(
        w.verify(&forged, &proof),
        Err(Error::FactorMismatch {
            factor: 0,
            reason: "evidence kind"
        })
    );

    // a given base the rules allow, raised: the rules cannot see it, the published root can
    let (honest, proof) = p.receipt(1);
    let mut forged = honest.clone();
    forged.score.base.value = Fixed::from_int(20).unwrap();
    make_consistent(&mut forged);
    assert!(forged.amount > honest.amount);
    assert_eq!(p.verify(&forged, &proof), Err(Error::NotInEpoch));
}

#[test]
fn given_values_above_the_published_maximum_are_refused() {
    let capped = rules_with(Some(Fixed::from_int(20).unwrap()));
    let epoch = poc_epoch(EPOCH);
    let published = epoch.publish(&capped).unwrap();
    let (honest, proof) = epoch
        .receipts_with_proofs()
        .unwrap()
        .into_iter()
        .find(|(r, _)| r.device == 3)
        .unwrap();
    verify_receipt(&honest, &proof, &published, &capped).unwrap();
    let mut forged = honest.clone();
    forged.score.base.value = Fixed::from_int(36).unwrap();
    make_consistent(&mut forged);
    assert_eq!(
        verify_receipt(&forged, &proof, &published, &capped),
        Err(Error::FactorMismatch {
            factor: 0,
            reason: "given value above the published maximum"
        })
    );
}

#[test]
fn injected_given_evidence_is_refused() {
    let p = Publication::of(&poc_epoch(EPOCH), &rules());
    for (device, position, name) in [(3, 1, "location"), (2, 2, "uptime")] {
        let (honest, proof) = p.receipt(device);
        let mut forged = honest.clone();
        forged.score.multipliers[position] = Factor::given(name, Fixed::ONE);
        make_consistent(&mut forged);
        assert!(forged.amount > honest.amount, "the forgery pays more");
        assert_eq!(
            p.verify(&forged, &proof),
            Err(Error::GivenNotAllowed {
                factor: position + 1
            })
        );
    }
}

#[test]
fn relabelled_epoch_device_or_category_is_refused() {
    let rules = rules();
    let p = Publication::of(&poc_epoch(EPOCH), &rules);
    let (honest, proof) = p.receipt(3);

    let mut forged = honest.clone();
    forged.epoch += 1;
    assert_eq!(p.verify(&forged, &proof), Err(Error::EpochBinding("epoch")));
    // replayed against the next epoch's genuine publication (same devices, same shares): the
    // evidence is last epoch's
    let next = Publication::of(&poc_epoch(EPOCH + 1), &rules);
    assert_eq!(next.published.total_shares, p.published.total_shares);
    let (_, next_proof) = next.receipt(3);
    assert_eq!(
        next.verify(&forged, &next_proof),
        Err(Error::FactorMismatch {
            factor: 1,
            reason: "epoch time"
        })
    );

    // another device's id, with either proof, or an id not in the epoch
    for (device, proof) in [(1, p.receipt(1).1), (1, proof.clone()), (99, proof.clone())] {
        let mut forged = honest.clone();
        forged.device = device;
        assert_eq!(p.verify(&forged, &proof), Err(Error::NotInEpoch));
    }

    // another category
    let mut forged = honest.clone();
    forged.category = "witnesses".into();
    assert_eq!(
        p.verify(&forged, &proof),
        Err(Error::EpochBinding("category"))
    );
    let w = Publication::of(&witness_epoch(), &rules);
    assert!(w.verify(&forged, &proof).is_err());
}

#[test]
fn two_honest_receipts_and_a_forgery_cannot_exceed_the_pool() {
    let rules = rules();
    let p = Publication::of(&poc_epoch(EPOCH), &rules);
    let honest = p.all();
    verify_epoch(&honest, &p.published, &rules).unwrap();

    // device 3 doubles its (given) coverage points: consistent with itself and the rules
    let mut forged = honest.clone();
    forged[2].score.base.value = Fixed::from_int(36).unwrap();
    make_consistent(&mut forged[2]);
    let sum: u128 = forged.iter().map(|r| r.amount).sum();
    assert!(sum > POOL, "{sum} > {POOL}");
    assert!(matches!(
        verify_epoch(&forged, &p.published, &rules),
        Err(Error::EpochTotalMismatch { what: "shares", .. })
    ));
    assert_eq!(
        p.verify(&forged[2], &p.receipt(3).1),
        Err(Error::NotInEpoch)
    );

    // the same with a self-chosen location policy
    let mut forged = honest.clone();
    if let Evidence::LocationTrust { policy, .. } = &mut forged[2].score.multipliers[1].evidence {
        *policy = lenient();
    }
    make_consistent(&mut forged[2]);
    assert!(forged.iter().map(|r| r.amount).sum::<u128>() > POOL);
    assert_eq!(
        verify_epoch(&forged, &p.published, &rules),
        Err(Error::FactorMismatch {
            factor: 2,
            reason: "policy parameters"
        })
    );

    // an extra receipt, a missing one, a repeated one
    let mut extra = honest.clone();
    let mut newcomer = honest[0].clone();
    newcomer.device = 4;
    extra.push(newcomer);
    assert_eq!(
        verify_epoch(&extra, &p.published, &rules),
        Err(Error::ReceiptCountMismatch {
            expected: 3,
            found: 4
        })
    );
    assert_eq!(
        verify_epoch(&honest[..2], &p.published, &rules),
        Err(Error::ReceiptCountMismatch {
            expected: 3,
            found: 2
        })
    );
    let repeated = [honest[0].clone(), honest[2].clone(), honest[2].clone()];
    assert_eq!(
        verify_epoch(&repeated, &p.published, &rules),
        Err(Error::DuplicateEntry { index: 2 })
    );

    // a summary the attacker computes over the forgery is not the published one, and is
    // refused on its own terms (paid above the pool)
    let mut forged = honest.clone();
    forged[2].score.base.value = Fixed::from_int(36).unwrap();
    make_consistent(&mut forged[2]);
    let own = PublishedEpoch::from_receipts(rules.commitment().unwrap(), &forged).unwrap();
    assert_ne!(own.commitment().unwrap(), p.published.commitment().unwrap());
    assert_eq!(
        verify_epoch(&forged, &own, &rules),
        Err(Error::PublishedMismatch("paid above the pool"))
    );
}

#[test]
fn a_dishonest_oracle_cannot_publish_outside_the_rules() {
    let rules = rules();
    // the oracle scores device 3 under a lenient location policy, and device 2 with a given
    // uptime of 1
    let mut scores = poc_scores(EPOCH);
    scores[2].1 = {
        let mut s = scores[2].1.clone();
        s.multipliers[1] = Factor::from_evidence(
            "location",
            Evidence::LocationTrust {
                policy: lenient(),
                distances_m: vec![10, 500, 20],
            },
        )
        .unwrap();
        s.share = s.recompute().unwrap();
        s
    };
    let epoch = EpochRewards::compute(EPOCH, "poc", POOL, Mode::LargestRemainder, scores).unwrap();
    assert_eq!(
        epoch.publish(&rules),
        Err(Error::FactorMismatch {
            factor: 2,
            reason: "policy parameters"
        })
    );
    // publishing it anyway under the rules' commitment
    let receipts = epoch.receipts_with_proofs().unwrap();
    let all: Vec<RewardReceipt<u64>> = receipts.iter().map(|(r, _)| r.clone()).collect();
    let published = PublishedEpoch::from_receipts(rules.commitment().unwrap(), &all).unwrap();
    let (r, proof) = &receipts[2];
    assert_eq!(
        verify_receipt(r, proof, &published, &rules),
        Err(Error::FactorMismatch {
            factor: 2,
            reason: "policy parameters"
        })
    );
    assert_eq!(
        verify_epoch(&all, &published, &rules),
        Err(Error::FactorMismatch {
            factor: 2,
            reason: "policy parameters"
        })
    );

    let mut scores = poc_scores(EPOCH);
    scores[1].1.multipliers[2] = Factor::given("uptime", Fixed::ONE);
    scores[1].1.share = scores[1].1.recompute().unwrap();
    let epoch = EpochRewards::compute(EPOCH, "poc", POOL, Mode::LargestRemainder, scores).unwrap();
    assert_eq!(
        epoch.publish(&rules),
        Err(Error::GivenNotAllowed { factor: 3 })
    );
}

#[test]
fn epoch_times_names_and_density_counts_are_bound() {
    let rules = rules();
    let p = Publication::of(&poc_epoch(EPOCH), &rules);

    // speed tests evaluated at another time
    let (honest, proof) = p.receipt(1);
    let mut forged = honest.clone();
    if let Evidence::SpeedTests { epoch_end, .. } = &mut forged.score.multipliers[0].evidence {
        *epoch_end += DAY;
    }
    make_consistent(&mut forged);
    assert_eq!(
        p.verify(&forged, &proof),
        Err(Error::FactorMismatch {
            factor: 1,
            reason: "epoch time"
        })
    );

    // uptime counted over another window
    let (honest, proof) = p.receipt(2);
    let mut forged = honest.clone();
    if let Evidence::Uptime { epoch_start, .. } = &mut forged.score.multipliers[2].evidence {
        *epoch_start -= 14 * 3600;
    }
    make_consistent(&mut forged);
    assert_eq!(
        p.verify(&forged, &proof),
        Err(Error::FactorMismatch {
            factor: 3,
            reason: "epoch time"
        })
    );

    // a factor under another name
    let (honest, proof) = p.receipt(1);
    let mut forged = honest.clone();
    forged.score.multipliers[1].name = "trust".into();
    assert_eq!(
        p.verify(&forged, &proof),
        Err(Error::FactorMismatch {
            factor: 2,
            reason: "name"
        })
    );

    // hex density: the resolution-10 hex (3 hotspots, clipped to 1) edited to unclipped, which
    // triples the scale; HIP-104 allows at most 1 at resolution 10
    let w = Publication::of(&witness_epoch(), &rules);
    let (honest, proof) = w.receipt(10);
    let mut forged = honest.clone();
    if let Evidence::HexDensity { steps } = &mut forged.score.multipliers[0].evidence {
        assert_eq!(
            (steps[0].resolution, steps[0].clipped, steps[0].unclipped),
            (10, 1, 3)
        );
        steps[0].clipped = steps[0].unclipped;
    }
    make_consistent(&mut forged);
    assert!(forged.score.multipliers[0].value > honest.score.multipliers[0].value);
    assert!(forged.amount > honest.amount);
    assert_eq!(
        w.verify(&forged, &proof),
        Err(Error::FactorMismatch {
            factor: 1,
            reason: "hex density counts"
        })
    );
}
