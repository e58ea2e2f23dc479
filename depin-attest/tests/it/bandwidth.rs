//! Bandwidth tiers.

use crate::common::Attestation;
use depin_attest::types::BandwidthTest;
use depin_attest::{BandwidthPolicy, Input, Outcome, SpeedTier};

use crate::common::*;

fn test(down_mbps: u64, up_mbps: u64, latency_ms: u32) -> BandwidthTest {
    BandwidthTest {
        download_bps: down_mbps * 1_000_000,
        upload_bps: up_mbps * 1_000_000,
        latency_ms,
        challenge: CHALLENGE,
    }
}

/// The speed-test challenge the fixtures' network issued.
pub(crate) const CHALLENGE: [u8; 32] = [0xC4; 32];

/// A verifier whose network issued [`CHALLENGE`] for the hour around `NOW`.
pub(crate) fn with_challenge(net: &Net) -> TestVerifier {
    let mut v = net.verifier();
    v.set_bandwidth_challenge(depin_attest::BandwidthChallenge {
        challenge: CHALLENGE,
        valid_from: depin_core::Timestamp(NOW.0 - 3_600_000),
        valid_until: depin_core::Timestamp(NOW.0 + 30 * 86_400_000),
    })
    .unwrap();
    v
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
    let mut v = with_challenge(&net);
    let e = envelope(&net.keys[0], 1, Attestation::BandwidthTest(test(80, 9, 55)));
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW).unwrap().outcome,
        Outcome::Tier(SpeedTier::Degraded)
    );
}

// ---- issue 23: fabricated speed data ----

#[test]
fn implausible_speed_tests_are_refused() {
    let net = Net::new(1);
    let mut v = with_challenge(&net);
    let absurd = BandwidthTest {
        download_bps: u64::MAX,
        upload_bps: u64::MAX,
        latency_ms: 0,
        challenge: CHALLENGE,
    };
    let e = envelope(&net.keys[0], 1, Attestation::BandwidthTest(absurd));
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW),
        Err(depin_attest::Rejection::ImplausibleSpeed)
    );
    // zero latency alone is implausible too
    let e = envelope(
        &net.keys[0],
        2,
        Attestation::BandwidthTest(test(100, 10, 0)),
    );
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW),
        Err(depin_attest::Rejection::ImplausibleSpeed)
    );
}

#[test]
fn twenty_tests_in_one_millisecond_count_once() {
    let net = Net::new(1);
    let mut v = with_challenge(&net);
    let tests: Vec<Vec<u8>> = (1..=20)
        .map(|i| {
            envelope(
                &net.keys[0],
                i,
                Attestation::BandwidthTest(test(100, 10, 20)),
            )
        })
        .collect();
    let verdicts = v.verify_batch(&envelopes(&tests), NOW);
    assert!(verdicts[0].is_ok());
    assert!(verdicts[1..]
        .iter()
        .all(|x| *x == Err(depin_attest::Rejection::SpeedTestTooSoon)));
    // an hour later the next one counts
    let later = depin_core::Timestamp(NOW.0 + 3_600_000);
    let e = envelope_at(
        &net.keys[0],
        30,
        later,
        Attestation::BandwidthTest(test(100, 10, 20)),
    );
    assert!(v.verify_one(Input::Envelope(&e), later).is_ok());
}

#[test]
fn a_test_without_a_current_challenge_is_refused() {
    let net = Net::new(1);
    let mut v = net.verifier(); // no challenge issued
    let e = envelope(
        &net.keys[0],
        1,
        Attestation::BandwidthTest(test(100, 10, 20)),
    );
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW),
        Err(depin_attest::Rejection::UnknownChallenge)
    );
    let mut v = with_challenge(&net);
    let mut other = test(100, 10, 20);
    other.challenge = [0x11; 32];
    let e = envelope(&net.keys[0], 1, Attestation::BandwidthTest(other));
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW),
        Err(depin_attest::Rejection::UnknownChallenge)
    );
}
