//! Receipts: every payout can be recomputed from its receipt alone.

use depin_rewards::policy::hex_density::{DensityConfig, HexDensityMap};
use depin_rewards::policy::location::LocationTrustPolicy;
use depin_rewards::policy::speedtest::{mbps, SpeedTestPolicy, SpeedTestSample};
use depin_rewards::policy::uptime::UptimePolicy;
use depin_rewards::pools::{PoolPlan, PoolSplit, Redistribution};
use depin_rewards::score::{Evidence, Factor, ScoreBreakdown};
use depin_rewards::{verify_receipt, EpochRewards, Error, Fixed, Mode, RewardReceipt};

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
        let receipts: Vec<RewardReceipt<String>> = epoch.receipts().collect();
        assert_eq!(receipts.len(), CELLS.len());
        for r in &receipts {
            verify_receipt(r).unwrap();
        }
        let paid: u128 = receipts.iter().map(|r| r.amount).sum();
        assert_eq!(
            paid + epoch.distribution().unallocated(),
            epoch.distribution().pool()
        );
    }
    let epoch = mobile_epoch();
    for r in epoch.receipts() {
        verify_receipt(&r).unwrap();
    }
    // devices below the uptime threshold score zero and get nothing
    assert_eq!(epoch.receipt(&1000).unwrap().amount, 0);
    assert!(epoch.receipt(&1004).unwrap().amount > 0);
}

#[test]
fn receipts_survive_serialisation() {
    let epoch = iot_epoch(Mode::LargestRemainder);
    for r in epoch.receipts() {
        let json = serde_json::to_string(&r).unwrap();
        let back: RewardReceipt<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        verify_receipt(&back).unwrap();
        let bin = postcard::to_allocvec(&r).unwrap();
        let back: RewardReceipt<String> = postcard::from_bytes(&bin).unwrap();
        assert_eq!(back, r);
    }
}

#[test]
fn tampering_is_detected() {
    let epoch = iot_epoch(Mode::LargestRemainder);
    let r = epoch
        .receipts()
        .find(|r| r.cutoff.is_some() && r.amount > 0)
        .unwrap();
    verify_receipt(&r).unwrap();

    let mut t = r.clone();
    t.amount += 1;
    assert_eq!(verify_receipt(&t), Err(Error::ReceiptMismatch("amount")));

    let mut t = r.clone();
    t.pool += 1;
    assert_eq!(verify_receipt(&t), Err(Error::ReceiptMismatch("pool")));

    let mut t = r.clone();
    t.pool_plan = None; // without the plan the pool is taken as given
    t.pool += 1_000_000;
    assert_eq!(verify_receipt(&t), Err(Error::ReceiptMismatch("amount")));

    let mut t = r.clone();
    t.score.share = Fixed::from_raw(t.score.share.raw() + 1);
    assert_eq!(verify_receipt(&t), Err(Error::ReceiptMismatch("share")));

    let mut t = r.clone();
    t.score.base.value = Fixed::from_raw(t.score.base.value.raw() + 1);
    assert_eq!(
        verify_receipt(&t),
        Err(Error::ReceiptMismatch("factor value"))
    );

    let mut t = r.clone();
    if let Evidence::Hip15Witness { witnesses } = &mut t.score.base.evidence {
        *witnesses += 10;
    }
    assert_eq!(
        verify_receipt(&t),
        Err(Error::ReceiptMismatch("factor value"))
    );

    // epoch-wide values: a receipt proves the arithmetic from them; that they are the epoch's
    // real totals is checked against the published epoch summary, not the receipt alone
    let mut t = r.clone();
    t.total_shares /= 2;
    assert_eq!(verify_receipt(&t), Err(Error::ReceiptMismatch("amount")));

    // moving the public cutoff changes who gets the extra unit: a device that got one loses
    // it when the cutoff is raised above every remainder
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
    assert_eq!(verify_receipt(&t), Err(Error::ReceiptMismatch("amount")));
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
        e.with_pool_plan(plan()),
        Err(Error::ReceiptMismatch("pool"))
    );
}

/// The receipts of both epochs, byte for byte (regression vector produced by this crate).
#[test]
fn golden_receipts() {
    let iot: Vec<RewardReceipt<String>> = iot_epoch(Mode::LargestRemainder).receipts().collect();
    let mobile: Vec<RewardReceipt<u64>> = mobile_epoch().receipts().collect();
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
    // and every receipt in the file verifies on its own
    let file: serde_json::Value = serde_json::from_str(&want).unwrap();
    for r in file["iot_witnesses"].as_array().unwrap() {
        let r: RewardReceipt<String> = serde_json::from_value(r.clone()).unwrap();
        verify_receipt(&r).unwrap();
    }
    for r in file["mobile_poc"].as_array().unwrap() {
        let r: RewardReceipt<u64> = serde_json::from_value(r.clone()).unwrap();
        verify_receipt(&r).unwrap();
    }
}
