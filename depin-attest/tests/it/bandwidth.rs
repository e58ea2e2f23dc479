//! Bandwidth tiers.

use depin_attest::types::BandwidthTest;
use depin_attest::{Attestation, BandwidthPolicy, Input, Outcome, SpeedTier};

use crate::common::*;

fn test(down_mbps: u64, up_mbps: u64, latency_ms: u32) -> BandwidthTest {
    BandwidthTest {
        download_bps: down_mbps * 1_000_000,
        upload_bps: up_mbps * 1_000_000,
        latency_ms,
    }
}

#[test]
fn tiers_follow_the_worst_metric() {
    let p = BandwidthPolicy::helium_mobile();
    assert_eq!(p.tier(&test(100, 10, 49)), SpeedTier::Acceptable);
    assert_eq!(p.tier(&test(100, 10, 50)), SpeedTier::Degraded);
    assert_eq!(p.tier(&test(500, 9, 10)), SpeedTier::Degraded);
    assert_eq!(p.tier(&test(74, 100, 10)), SpeedTier::Poor);
    assert_eq!(p.tier(&test(1000, 1000, 99)), SpeedTier::Fail);
    assert_eq!(p.tier(&test(29, 100, 10)), SpeedTier::Unacceptable);
    assert_eq!(p.tier(&test(1000, 1000, 100)), SpeedTier::Unacceptable);
    assert_eq!(SpeedTier::Degraded.multiplier_percent(), 75);
}

#[test]
fn rolling_tier_needs_two_tests_and_uses_the_last_six() {
    let p = BandwidthPolicy::helium_mobile();
    assert_eq!(p.rolling_tier(&[]), None);
    assert_eq!(p.rolling_tier(&[test(100, 10, 10)]), None);
    let mut tests = vec![test(0, 0, 1000); 3];
    tests.extend(vec![test(100, 10, 10); 6]);
    assert_eq!(p.rolling_tier(&tests), Some(SpeedTier::Acceptable));
    tests.push(test(40, 10, 10));
    // average of the last six: download 540/6 = 90 Mbps -> Degraded
    assert_eq!(p.rolling_tier(&tests), Some(SpeedTier::Degraded));
}

#[test]
fn pipeline_outputs_a_tier() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let e = envelope(&net.keys[0], 1, Attestation::BandwidthTest(test(80, 9, 55)));
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW).unwrap().outcome,
        Outcome::Tier(SpeedTier::Degraded)
    );
}
