//! Energy readings and charging sessions.

use crate::common::Attestation;
use depin_attest::types::{ChargingSession, EnergyDirection, EnergyReading};
use depin_attest::{DeviceRecord, Input, KindSet, Outcome, Rejection};
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
    let r = readings(&[(0, 0), (1, 10_500), (2, 21_001), (3, 31_000)]);
    assert_eq!(r[1], Ok(Outcome::Energy { wh: 10_500 }));
    assert_eq!(r[2], Err(Rejection::ImpossiblePower));
    // the refused interval's energy is not carried over: the impossible reading is the new
    // baseline, so the next hour earns only its own 9,999 Wh
    assert_eq!(r[3], Ok(Outcome::Energy { wh: 9_999 }));
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

// ---- issue 23: fabricated energy data ----

fn session(start: Timestamp, end: Timestamp, wh: u64) -> Attestation {
    Attestation::ChargingSession(ChargingSession {
        session_id: start.0,
        started_at: start,
        ended_at: end,
        energy_wh: wh,
    })
}

#[test]
fn a_session_from_1970_or_across_a_month_of_silence_is_refused() {
    let net = Net::new(1);
    let mut v = net.verifier();
    // 1970 to 2023 on a 10 kW charger: within the power bound, but not a charging session
    let e = envelope(&net.keys[0], 1, session(Timestamp(0), t(0), 4_722_220_000));
    assert_eq!(
        v.verify_one(Input::Envelope(&e), t(0)),
        Err(Rejection::SessionTooLong)
    );
    // 30 days of silence, then one 720-hour session
    let e = envelope_at(&net.keys[0], 2, t(720), session(t(0), t(720), 7_000_000));
    assert_eq!(
        v.verify_one(Input::Envelope(&e), t(720)),
        Err(Rejection::SessionTooLong)
    );
    // a real session still counts
    let e = envelope_at(&net.keys[0], 3, t(723), session(t(721), t(723), 18_000));
    assert_eq!(
        v.verify_one(Input::Envelope(&e), t(723)).unwrap().outcome,
        Outcome::Energy { wh: 18_000 }
    );
}

#[test]
fn a_session_before_registration_is_refused() {
    let mut net = Net::new(1);
    let mut rec = DeviceRecord::active(KindSet::ALL);
    rec.rated_power_w = Some(10_000);
    rec.registered_at = Some(t(2));
    net.registry.insert(net.id(0), rec).unwrap();
    let mut v = net.verifier();
    let e = envelope_at(&net.keys[0], 1, t(3), session(t(1), t(3), 1_000));
    assert_eq!(
        v.verify_one(Input::Envelope(&e), t(3)),
        Err(Rejection::SessionBeforeHistory)
    );
}

#[test]
fn rated_power_holds_for_the_device_not_per_counter() {
    // a 10 kW device: production, consumption and a session in one hour, each within the
    // cap on its own, total 31.5 kWh
    let net = Net::new(1);
    let mut v = net.verifier();
    let reading_of = |direction, wh| {
        Attestation::EnergyReading(EnergyReading {
            direction,
            cumulative_wh: wh,
        })
    };
    let items = [
        (1, t(0), reading_of(EnergyDirection::Production, 0)),
        (2, t(0), reading_of(EnergyDirection::Consumption, 0)),
        (3, t(1), reading_of(EnergyDirection::Production, 10_500)),
        (4, t(1), reading_of(EnergyDirection::Consumption, 10_500)),
        (5, t(1), session(t(0), t(1), 10_500)),
    ];
    let mut got = Vec::new();
    for (seq, at, a) in items {
        let e = envelope_at(&net.keys[0], seq, at, a);
        got.push(v.verify_one(Input::Envelope(&e), at).map(|a| a.outcome));
    }
    assert_eq!(
        got,
        vec![
            Ok(Outcome::Energy { wh: 0 }),
            Ok(Outcome::Energy { wh: 0 }),
            Ok(Outcome::Energy { wh: 10_500 }),
            Err(Rejection::DevicePowerExceeded),
            Err(Rejection::DevicePowerExceeded),
        ]
    );
    // order does not matter: an earlier, disjoint hour still fits
    let e = envelope_at(
        &net.keys[0],
        6,
        t(1),
        session(Timestamp(t(0).0 - 3_600_000), t(0), 10_000),
    );
    assert!(v.verify_one(Input::Envelope(&e), t(1)).is_ok());
}

#[test]
fn solar_production_around_the_clock_is_refused_at_night() {
    let mut net = Net::new(1);
    net.config.policies.energy = depin_attest::EnergyPolicy::solar();
    // a solar meter in Lisbon (longitude -9.14: local solar time is UTC - 37 min)
    let mut rec = DeviceRecord::active(KindSet::ALL);
    rec.rated_power_w = Some(5_000);
    rec.location = Some(depin_attest::types::H3Cell(
        h3o::LatLng::new(38.7223, -9.1393)
            .unwrap()
            .to_cell(h3o::Resolution::Nine),
    ));
    net.registry.insert(net.id(0), rec).unwrap();
    let mut v = net.verifier();
    // NOW is 22:13 UTC; hourly readings at 105 % of rated output for 7 days
    let mut rejected = 0;
    let mut credited = 0u64;
    for h in 0..=(7 * 24) {
        let e = envelope_at(
            &net.keys[0],
            h + 1,
            t(h),
            Attestation::EnergyReading(EnergyReading {
                direction: EnergyDirection::Production,
                cumulative_wh: h * 5_250,
            }),
        );
        match v.verify_one(Input::Envelope(&e), t(h)) {
            Ok(a) => {
                if let Outcome::Energy { wh } = a.outcome {
                    credited += wh;
                }
            }
            Err(Rejection::ImplausibleProduction) => rejected += 1,
            Err(other) => panic!("hour {h}: {other:?}"),
        }
    }
    // the night hours (at least 8 of every 24) are refused, daylight hours credited
    assert!(rejected >= 7 * 8, "{rejected}");
    assert!(credited <= 7 * 16 * 5_250, "{credited}");
    assert!(credited > 0);
    // without a location the daylight rule cannot be applied: refused, not waved through
    let mut net2 = Net::new(1);
    net2.config.policies.energy = depin_attest::EnergyPolicy::solar();
    let mut v = net2.verifier();
    let e = envelope(&net2.keys[0], 1, reading(10));
    assert_eq!(
        v.verify_one(Input::Envelope(&e), NOW),
        Err(Rejection::NoLocation)
    );
}

#[test]
fn energy_policy_ranges_are_checked() {
    let mut net = Net::new(1);
    net.config.policies.energy.headroom_percent = 50;
    assert!(depin_attest::Verifier::new(
        net.config.clone(),
        net.registry.clone(),
        depin_attest::MemoryReplayStore::new()
    )
    .is_err());
}
