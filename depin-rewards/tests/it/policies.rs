//! Ready policies against the vectors of the code they follow.

use depin_rewards::policy::hex_density::{
    scale_from_steps, DensityConfig, DensityStep, HexDensityMap,
};
use depin_rewards::policy::location::LocationTrustPolicy;
use depin_rewards::policy::speedtest::{mbps, SpeedTestPolicy, SpeedTestSample, SpeedTier};
use depin_rewards::policy::uptime::UptimePolicy;
use depin_rewards::{Error, Fixed};

/// helium/oracles iot_verifier/src/hex_density.rs `simple_scale_check`: 36 hotspots (res 12
/// cells) around the res-8 hex 882830D341FFFFF, and the scales Helium expects (4 decimals).
#[test]
fn hex_density_matches_helium_vector() {
    let indexes: [u64; 36] = [
        631210990515536895,
        631210990515536895,
        631210990515536895,
        631210990515537919,
        631210990515537919,
        631210990515537919,
        631210990515538431,
        631210990515564031,
        631210990515589631,
        631210990515600383,
        631210990515601919,
        631210990515606527,
        631210990515722239,
        631210990515722239,
        631210990515727359,
        631210990515728895,
        631210990515739647,
        631210990515874303,
        631210990515924479,
        631210990516363775,
        631210990515987455,
        631210990516590079,
        631210990516612607,
        631210990516613631,
        631210990516640767,
        631210990516876799,
        631210990516885503,
        631210990516888063,
        631210990516907007,
        631210990516912639,
        631210990516955647,
        631210990516996607,
        631210990517011455,
        631210990517016575,
        631210990517144063,
        631210990517264895,
    ];
    let expected: [(u64, &str); 31] = [
        (631210990515537919, "0.006"),
        (631210990516955647, "0.0417"),
        (631210990516885503, "0.0139"),
        (631210990515601919, "0.0104"),
        (631210990516590079, "0.0556"),
        (631210990516888063, "0.0139"),
        (631210990516640767, "0.0556"),
        (631210990516907007, "0.0208"),
        (631210990515874303, "0.0556"),
        (631210990517011455, "0.0139"),
        (631210990516363775, "0.1667"),
        (631210990515589631, "0.0104"),
        (631210990516996607, "0.0139"),
        (631210990515600383, "0.0104"),
        (631210990517016575, "0.0139"),
        (631210990515606527, "0.0104"),
        (631210990515739647, "0.0083"),
        (631210990516613631, "0.0278"),
        (631210990516876799, "0.0139"),
        (631210990515924479, "0.0556"),
        (631210990515538431, "0.006"),
        (631210990515536895, "0.006"),
        (631210990517144063, "0.0833"),
        (631210990517264895, "0.0833"),
        (631210990516612607, "0.0278"),
        (631210990515722239, "0.0083"),
        (631210990516912639, "0.0208"),
        (631210990515727359, "0.0083"),
        (631210990515564031, "0.0417"),
        (631210990515728895, "0.0083"),
        (631210990515987455, "0.0556"),
    ];
    let map = HexDensityMap::build(&indexes, &DensityConfig::HIP104).unwrap();
    for (cell, scale) in expected {
        assert_eq!(map.scale(cell).unwrap().to_string(), scale, "cell {cell}");
    }
    // input order does not matter
    let mut reversed = indexes;
    reversed.reverse();
    assert_eq!(
        HexDensityMap::build(&reversed, &DensityConfig::HIP104).unwrap(),
        map
    );
    // the steps are the evidence: recomputing from them gives the same scale
    let steps = map.steps(631210990516363775).unwrap();
    assert_eq!(steps.len(), 7);
    assert_eq!(
        scale_from_steps(&steps).unwrap(),
        map.scale(631210990516363775).unwrap()
    );
}

#[test]
fn hex_density_errors() {
    assert_eq!(
        HexDensityMap::build(&[0], &DensityConfig::HIP104),
        Err(Error::InvalidCell)
    );
    // a resolution-8 cell is too coarse to count at resolution 11
    assert_eq!(
        HexDensityMap::build(&[0x0882_830d_341f_ffff], &DensityConfig::HIP104),
        Err(Error::InvalidCell)
    );
    let mut bad = DensityConfig::HIP104;
    bad.resolutions[0].max = 1;
    assert!(HexDensityMap::build(&[631210990515536895], &bad).is_err());
    let s = DensityStep {
        resolution: 8,
        clipped: 2,
        unclipped: 1,
    };
    assert!(scale_from_steps(&[s]).is_err());
    let s = DensityStep {
        resolution: 8,
        clipped: 0,
        unclipped: 0,
    };
    assert!(scale_from_steps(&[s]).is_err());
    assert_eq!(scale_from_steps(&[]).unwrap(), Fixed::ONE);
}

#[test]
fn hex_density_limit_rule() {
    let c = DensityConfig::HIP104;
    // r7: N = 4, target 5, max 10: limit grows with occupied neighbours beyond N
    assert_eq!(c.limit(7, 0).unwrap(), 5);
    assert_eq!(c.limit(7, 4).unwrap(), 5);
    assert_eq!(c.limit(7, 5).unwrap(), 10);
    assert_eq!(c.limit(7, 7).unwrap(), 10);
    assert_eq!(c.limit(4, 3).unwrap(), 1000);
    assert_eq!(c.limit(10, 7).unwrap(), 1);
    assert!(c.limit(11, 0).is_err());
}

fn st(ts: u64, up: u64, down: u64, lat: u32) -> SpeedTestSample {
    SpeedTestSample {
        timestamp: ts,
        upload_bps: mbps(up),
        download_bps: mbps(down),
        latency_ms: lat,
    }
}

/// The tier cases of helium/oracles mobile_verifier speedtests_average.rs tests
/// (upload Mbps, download Mbps, latency ms; two tests each).
#[test]
fn speed_tiers_match_helium_cases() {
    let p = SpeedTestPolicy::HELIUM_MOBILE;
    let end = 1_000_000;
    let tier = |a: (u64, u64, u32), b: (u64, u64, u32)| {
        p.tier(
            &[st(end - 10, a.0, a.1, a.2), st(end - 5, b.0, b.1, b.2)],
            end,
        )
    };
    assert_eq!(tier((10, 100, 49), (10, 100, 50)), SpeedTier::Good);
    assert_eq!(tier((9, 100, 49), (10, 100, 50)), SpeedTier::Acceptable);
    assert_eq!(tier((10, 99, 49), (10, 100, 50)), SpeedTier::Acceptable);
    assert_eq!(tier((10, 100, 50), (10, 100, 50)), SpeedTier::Acceptable);
    assert_eq!(tier((8, 75, 59), (8, 100, 60)), SpeedTier::Acceptable);
    assert_eq!(tier((7, 75, 59), (8, 75, 60)), SpeedTier::Degraded);
    assert_eq!(tier((8, 74, 59), (8, 75, 60)), SpeedTier::Degraded);
    assert_eq!(tier((8, 75, 60), (8, 75, 60)), SpeedTier::Degraded);
    assert_eq!(tier((5, 50, 74), (5, 50, 75)), SpeedTier::Degraded);
    assert_eq!(tier((4, 50, 74), (5, 50, 75)), SpeedTier::Poor);
    assert_eq!(tier((5, 49, 74), (5, 50, 75)), SpeedTier::Poor);
    assert_eq!(tier((5, 50, 75), (5, 50, 75)), SpeedTier::Poor);
    assert_eq!(tier((2, 30, 99), (2, 30, 100)), SpeedTier::Poor);
    assert_eq!(tier((1, 30, 99), (2, 30, 100)), SpeedTier::Failed);
    assert_eq!(tier((2, 29, 99), (2, 30, 100)), SpeedTier::Failed);
    assert_eq!(tier((2, 30, 100), (2, 30, 100)), SpeedTier::Failed);
    assert_eq!(p.tier(&[st(end - 1, 2, 30, 99)], end), SpeedTier::Failed);
    assert_eq!(p.multiplier_of(SpeedTier::Acceptable).to_string(), "0.75");
}

#[test]
fn speed_window_keeps_newest_six_within_48h() {
    let p = SpeedTestPolicy::HELIUM_MOBILE;
    let end = 10_000_000;
    let mut tests: Vec<SpeedTestSample> = (0..6).map(|i| st(end - 100 + i, 10, 100, 10)).collect();
    tests.push(st(end - 1000, 0, 0, 1000)); // older than the newest six: ignored
    tests.push(st(end - 49 * 3600, 0, 0, 1000)); // outside 48 h: ignored
    tests.push(st(end, 0, 0, 1000)); // at epoch end (exclusive): ignored
    assert_eq!(p.tier(&tests, end), SpeedTier::Good);
    tests.reverse();
    assert_eq!(p.tier(&tests, end), SpeedTier::Good);
    assert_eq!(p.average(&tests, end).unwrap().samples, 6);
    assert_eq!(p.average(&[], end), None);
}

#[test]
fn uptime_threshold() {
    let p = UptimePolicy::HELIUM_MOBILE;
    let day = 20_000 * 86_400;
    let hours = |n: u64| -> Vec<u64> {
        (0..n)
            .flat_map(|h| [day + h * 3600, day + h * 3600 + 1800])
            .collect()
    };
    assert_eq!(p.buckets_seen(day, &hours(11)), 11);
    assert_eq!(p.multiplier(day, &hours(11)), Fixed::ZERO);
    assert_eq!(p.multiplier(day, &hours(12)), Fixed::ONE);
    assert_eq!(p.multiplier(day, &hours(24)), Fixed::ONE);
    // heartbeats of the next day do not count
    let mut beats = hours(11);
    beats.push(day + 86_400);
    assert_eq!(p.multiplier(day, &beats), Fixed::ZERO);
}

#[test]
fn location_trust() {
    let p = LocationTrustPolicy::HELIUM_MOBILE;
    assert_eq!(p.score(0), Fixed::ONE);
    assert_eq!(p.score(300), Fixed::ONE);
    assert_eq!(p.score(301).to_string(), "0.25");
    assert_eq!(p.score(400).to_string(), "0.25");
    assert_eq!(p.score(401), Fixed::ZERO);
    assert_eq!(p.multiplier(&[]).unwrap(), Fixed::ZERO);
    assert_eq!(
        p.multiplier(&[350, 350, 350, 10]).unwrap().to_string(),
        "0.4375"
    );
    assert_eq!(p.multiplier(&[350, 10, 10]).unwrap().to_string(), "0.75");
}

mod median {
    use depin_rewards::policy::median::{
        median_payout, reports_needed, upper_median, MedianPayout,
    };
    use proptest::prelude::*;

    fn pay(target: u128, amount: u128) -> MedianPayout {
        MedianPayout::Pay { target, amount }
    }

    /// Hand-worked cases. Reports are cumulative totals; the payment is the upper median
    /// (index len/2 of the sorted reports) minus what was paid.
    #[test]
    fn golden_cases_worked_by_hand() {
        let cases: &[(usize, &[u128], u128, MedianPayout)] = &[
            // one oracle: its report is the target
            (1, &[500], 200, pay(500, 300)),
            // three oracles, all report: sorted 90, 100, 110 -> 100
            (3, &[110, 90, 100], 0, pay(100, 100)),
            // three oracles, two report (ceil(3/2) = 2): sorted 90, 110 -> index 1 = 110
            (3, &[90, 110], 50, pay(110, 60)),
            // three oracles, one report: not enough
            (
                3,
                &[100],
                0,
                MedianPayout::NotEnoughOracles { have: 1, need: 2 },
            ),
            // four oracles, two report (ceil(4/2) = 2): sorted 7, 9 -> 9
            (4, &[9, 7], 0, pay(9, 9)),
            // four oracles, all report, one lies high: sorted 10, 11, 12, 10^30 -> 12
            (
                4,
                &[12, 1_000_000_000_000_000_000_000_000_000_000, 10, 11],
                0,
                pay(12, 12),
            ),
            // five oracles, three report, one lies low: sorted 0, 1000, 1010 -> 1000
            (5, &[1_010, 0, 1_000], 400, pay(1_000, 600)),
            // five oracles, all report, two lie high: sorted 100, 101, 102, 900, 999 -> 102
            (5, &[999, 100, 900, 102, 101], 100, pay(102, 2)),
            // already paid more than the target: nothing, never negative
            (3, &[100, 100, 100], 150, pay(100, 0)),
            // equal reports
            (2, &[42, 42], 42, pay(42, 0)),
            // the largest totals
            (2, &[u128::MAX, u128::MAX - 1], 0, pay(u128::MAX, u128::MAX)),
        ];
        for (n, reports, paid, want) in cases {
            assert_eq!(
                median_payout(*n, reports, *paid).unwrap(),
                *want,
                "{n} oracles, reports {reports:?}, paid {paid}"
            );
        }
        assert_eq!(reports_needed(1), 1);
        assert_eq!(reports_needed(4), 2);
        assert_eq!(reports_needed(5), 3);
        assert_eq!(reports_needed(7), 4);
        assert_eq!(upper_median(&[]), None);
    }

    #[test]
    fn bad_oracle_sets_are_errors() {
        assert!(median_payout(0, &[], 0).is_err());
        assert!(median_payout(2, &[1, 2, 3], 0).is_err());
    }

    proptest! {
        /// With enough reports and fewer than half of them wrong (anything at all), the
        /// target lies within the honest reports' range; the amount never exceeds the target.
        #[test]
        fn a_minority_of_wrong_reports_cannot_move_the_median_out_of_the_honest_range(
            honest in prop::collection::vec(0u128..1_000_000, 1..8),
            wrong in prop::collection::vec(any::<u128>(), 0..8),
            paid in 0u128..2_000_000,
        ) {
            // fewer wrong reports than honest ones: a minority of all reports
            let wrong = &wrong[..wrong.len().min(honest.len() - 1)];
            let reports: Vec<u128> = honest.iter().chain(wrong).copied().collect();
            let n = reports.len();
            let MedianPayout::Pay { target, amount } = median_payout(n, &reports, paid).unwrap() else {
                return Err(TestCaseError::fail("all oracles reported"));
            };
            let lo = *honest.iter().min().unwrap();
            let hi = *honest.iter().max().unwrap();
            prop_assert!(lo <= target && target <= hi, "{target} outside {lo}..={hi}");
            prop_assert_eq!(amount, target.saturating_sub(paid));
        }
    }
}
