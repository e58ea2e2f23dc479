//! Energy readings and charging sessions.

use depin_attest::types::{ChargingSession, EnergyDirection, EnergyReading};
use depin_attest::{Attestation, DeviceRecord, Input, KindSet, Outcome, Rejection};
use depin_core::Timestamp;

use crate::common::*;

const HOUR: u64 = 3_600_000;

fn t(h: u64) -> Timestamp {
    Timestamp(NOW.0 + h * HOUR)
}

/// Submit readings of device 0 (rated 10 kW), each verified at its own time.
fn readings(items: &[(u64, u64)]) -> Vec<Result<Outcome, Rejection>> {
    let net = Net::new(1);
    let mut v = net.verifier();
    items
        .iter()
        .enumerate()
        .map(|(i, (hour, wh))| {
            let e = envelope_at(&net.keys[0], i as u64 + 1, t(*hour), reading(*wh));
            v.verify_one(Input::Envelope(&e), t(*hour))
                .map(|a| a.outcome)
        })
        .collect()
}

#[test]
fn honest_readings_credit_the_difference() {
    let r = readings(&[(0, 1_000), (1, 6_000), (2, 16_000)]);
    assert_eq!(
        r,
        vec![
            Ok(Outcome::Energy { wh: 0 }),
            Ok(Outcome::Energy { wh: 5_000 }),
            Ok(Outcome::Energy { wh: 10_000 })
        ]
    );
}

#[test]
fn counter_rollback_is_rejected() {
    let r = readings(&[(0, 5_000), (1, 4_999), (2, 6_000)]);
    assert_eq!(r[1], Err(Rejection::CounterRollback));
    // the rollback changed nothing: the next reading counts from 5000
    assert_eq!(r[2], Ok(Outcome::Energy { wh: 1_000 }));
}

#[test]
fn impossible_power_is_rejected() {
    // 10 kW rated, 5% headroom: 10.5 kWh in one hour is the limit
    let r = readings(&[(0, 0), (1, 10_501), (1, 10_500)]);
    assert_eq!(r[1], Err(Rejection::ImpossiblePower));
    assert_eq!(r[2], Ok(Outcome::Energy { wh: 10_500 }));
}

#[test]
fn long_gap_rebaselines() {
    let r = readings(&[(0, 0), (7, 50_000), (8, 55_000)]);
    assert_eq!(r[1], Err(Rejection::EnergyGap));
    assert_eq!(r[2], Ok(Outcome::Energy { wh: 5_000 }));
}

#[test]
fn directions_have_separate_counters_and_rated_power_is_required() {
    let mut net = Net::new(2);
    net.registry
        .insert(net.id(1), DeviceRecord::active(KindSet::ALL))
        .unwrap();
    let mut v = net.verifier();
    let prod = envelope_at(&net.keys[0], 1, t(0), reading(9_000));
    let cons = envelope_at(
        &net.keys[0],
        2,
        t(0),
        Attestation::EnergyReading(EnergyReading {
            direction: EnergyDirection::Consumption,
            cumulative_wh: 10,
        }),
    );
    let unrated = envelope_at(&net.keys[1], 1, t(0), reading(1));
    let r = v.verify_batch(&envelopes(&[prod, cons, unrated]), t(0));
    assert_eq!(reasons(&r), vec![None, None, Some(Rejection::NoRatedPower)]);
}

#[test]
fn charging_sessions() {
    let net = Net::new(1);
    let mut v = net.verifier();
    let s = |id: u64, start: u64, end: u64, wh: u64| {
        Attestation::ChargingSession(ChargingSession {
            session_id: id,
            started_at: t(start),
            ended_at: t(end),
            energy_wh: wh,
        })
    };
    let now = t(10);
    let items = [
        envelope_at(&net.keys[0], 1, now, s(1, 1, 3, 20_000)),
        envelope_at(&net.keys[0], 2, now, s(2, 2, 4, 1_000)), // overlaps session 1
        envelope_at(&net.keys[0], 3, now, s(3, 4, 5, 11_000)), // 11 kWh in 1 h on 10 kW
        envelope_at(&net.keys[0], 4, now, s(4, 4, 5, 9_000)),
        envelope_at(&net.keys[0], 5, now, s(5, 6, 11, 1_000)), // ends after it was signed
        envelope_at(&net.keys[0], 6, now, s(6, 7, 7, 0)),      // empty interval
    ];
    let r = v.verify_batch(&envelopes(&items), now);
    assert_eq!(
        reasons(&r),
        vec![
            None,
            Some(Rejection::SessionOverlap),
            Some(Rejection::ImpossiblePower),
            None,
            Some(Rejection::InvalidStructure),
            Some(Rejection::InvalidStructure),
        ]
    );
    assert_eq!(
        r[0].as_ref().unwrap().outcome,
        Outcome::Energy { wh: 20_000 }
    );
}
