//! Energy policy: cumulative counters never go back, power never exceeds the rated
//! capacity (per counter and for the device as a whole), charging sessions fit the
//! device's history, gaps are bounded, and optionally production follows daylight.
//! Integer arithmetic only (the daylight window uses the cell's longitude, rounded once).
//!
//! Power check of one item: `delta_wh * 3_600_000 * 100 <= rated_w * delta_ms * (100 +
//! headroom_percent)` (watt-hours to watt-milliseconds), computed in `u128`.
//!
//! Device check: every credited item (a reading's interval since the counter's previous
//! reading, or a session's span) is remembered with its energy. A new item over `[s, e]`
//! is credited only if the energy already credited to the same device inside `[s, e]`
//! (each earlier item counted pro rata to its overlap) plus the new energy stays within
//! the rated power over `e - s`. So production, consumption and charging sessions of one
//! device share one capacity: a 10 kW device cannot be credited 31.5 kWh in an hour by
//! splitting it across counters.

use std::collections::VecDeque;

use depin_core::{DeviceId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::kind::{AttestationKind, Label};
use crate::pipeline::Outcome;
use crate::policy::{Item, Policy};
use crate::reason::Rejection;
use crate::registry::DeviceRecord;
use crate::types::{ChargingSession, EnergyDirection, EnergyReading};

/// Milliseconds per hour.
const HOUR_MS: u64 = 3_600_000;
/// Milliseconds per day.
const DAY_MS: i64 = 86_400_000;
/// Credited intervals remembered per device for the device-wide check.
pub const MAX_CREDITS_PER_DEVICE: usize = 512;
/// Largest allowed meter tolerance, percent.
pub const MAX_HEADROOM_PERCENT: u32 = 20;

/// When production is physically possible: between `sunrise_hour` and `sunset_hour` of
/// local *solar* time (UTC shifted by the longitude of the device's asserted cell, 4
/// minutes per degree). Production credited over an interval may not exceed the rated
/// power (with headroom) times the part of the interval inside that window; at night it
/// is [`Rejection::ImplausibleProduction`]. Needs an asserted location
/// ([`Rejection::NoLocation`] otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaylightProfile {
    /// First hour (0..24) of local solar time with production.
    pub sunrise_hour: u8,
    /// Hour (0..=24, after `sunrise_hour`) of local solar time at which production ends.
    pub sunset_hour: u8,
}

impl DaylightProfile {
    /// A generous window for solar meters at any latitude below the polar circles:
    /// 04:00 to 20:00 local solar time.
    pub fn solar() -> Self {
        DaylightProfile {
            sunrise_hour: 4,
            sunset_hour: 20,
        }
    }

    /// Milliseconds of `[start, end)` inside the daylight window, for a device whose local
    /// solar time is UTC + `offset_ms`.
    fn overlap_ms(&self, start: u64, end: u64, offset_ms: i64) -> u64 {
        if end <= start {
            return 0;
        }
        let (s, e) = (start as i64 + offset_ms, end as i64 + offset_ms);
        let rise = i64::from(self.sunrise_hour) * HOUR_MS as i64;
        let set = i64::from(self.sunset_hour) * HOUR_MS as i64;
        let mut total = 0i64;
        let mut day = s.div_euclid(DAY_MS);
        while day * DAY_MS <= e {
            let (w0, w1) = (day * DAY_MS + rise, day * DAY_MS + set);
            let (a, b) = (s.max(w0), e.min(w1));
            if b > a {
                total += b - a;
            }
            day += 1;
        }
        u64::try_from(total).unwrap_or(0)
    }
}

/// Energy policy parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnergyPolicy {
    /// Policy version.
    pub version: u32,
    /// Longest gap between two readings of one counter that still earns (default 6 h).
    pub max_gap_ms: u64,
    /// Allowance above the rated power, percent (meter tolerance; default 5, at most
    /// [`MAX_HEADROOM_PERCENT`]).
    pub headroom_percent: u32,
    /// Longest charging session credited (default 24 h): a session from 1970, or one that
    /// spans a month of silence, is [`Rejection::SessionTooLong`].
    pub max_session_ms: u64,
    /// Daylight window for production counters (default `None`: meters that are not solar).
    pub production_daylight: Option<DaylightProfile>,
}

impl EnergyPolicy {
    /// The policy's name.
    pub const NAME: &'static str = "energy";

    /// A policy for solar production meters: the defaults plus [`DaylightProfile::solar`].
    pub fn solar() -> Self {
        EnergyPolicy {
            production_daylight: Some(DaylightProfile::solar()),
            ..Self::default()
        }
    }

    /// Whether the parameters are in their documented ranges.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.headroom_percent > MAX_HEADROOM_PERCENT {
            return Err("energy headroom above 20 %");
        }
        if self.max_session_ms == 0 || self.max_gap_ms == 0 {
            return Err("energy session length and gap must be non-zero");
        }
        if let Some(d) = self.production_daylight {
            if d.sunrise_hour >= d.sunset_hour || d.sunset_hour > 24 {
                return Err("daylight window must have sunrise < sunset <= 24");
            }
        }
        Ok(())
    }
}

impl Default for EnergyPolicy {
    fn default() -> Self {
        EnergyPolicy {
            version: 2,
            max_gap_ms: 6 * HOUR_MS,
            headroom_percent: 5,
            max_session_ms: 24 * HOUR_MS,
            production_daylight: None,
        }
    }
}

/// `wh` over `ms` at `rated_w` with the headroom: `wh * 3.6e6 * 100 <= rated * ms * (100 + h)`.
fn within_power(policy: &EnergyPolicy, rated_w: u64, wh: u128, ms: u64) -> bool {
    let lhs = wh * u128::from(HOUR_MS) * 100;
    let rhs = u128::from(rated_w) * u128::from(ms) * (100 + u128::from(policy.headroom_percent));
    lhs <= rhs
}

/// One credited item of a device: energy over `[start, end]`.
#[derive(Debug, Clone, Copy)]
struct Credit {
    start: u64,
    end: u64,
    wh: u64,
}

impl Credit {
    /// The part of this credit's energy inside `[s, e]`, pro rata, rounded up.
    fn within(&self, s: u64, e: u64) -> u128 {
        let (a, b) = (self.start.max(s), self.end.min(e));
        if b <= a {
            // a zero-length credit inside the window counts fully
            return if self.start == self.end && s <= self.start && self.start <= e {
                u128::from(self.wh)
            } else {
                0
            };
        }
        let len = u128::from(self.end - self.start);
        (u128::from(self.wh) * u128::from(b - a)).div_ceil(len.max(1))
    }
}

/// Per-device energy state.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnergyState {
    readings: crate::FastMap<(DeviceId, EnergyDirection), (Timestamp, u64)>,
    sessions: crate::FastMap<DeviceId, Timestamp>,
    credits: crate::FastMap<DeviceId, VecDeque<Credit>>,
}

/// Local solar time offset (ms) of the device's asserted cell.
fn solar_offset_ms(record: &DeviceRecord) -> Option<i64> {
    let cell = record.location?;
    let lng = h3o::LatLng::from(cell.0).lng();
    // 240,000 ms per degree of longitude; rounding to the millisecond is the only float step
    Some((lng * 240_000.0).round() as i64)
}

impl EnergyState {
    /// The device-wide check: the energy already credited inside `[s, e]` plus `wh` must
    /// fit the rated power over the interval. Records the credit on success.
    fn credit(
        &mut self,
        policy: &EnergyPolicy,
        device: DeviceId,
        rated: u64,
        s: u64,
        e: u64,
        wh: u64,
    ) -> Result<(), Rejection> {
        let credits = self.credits.entry(device).or_default();
        let used: u128 = credits.iter().map(|c| c.within(s, e)).sum();
        if !within_power(policy, rated, used + u128::from(wh), e.saturating_sub(s)) {
            return Err(Rejection::DevicePowerExceeded);
        }
        credits.push_back(Credit {
            start: s,
            end: e,
            wh,
        });
        while credits.len() > MAX_CREDITS_PER_DEVICE {
            credits.pop_front();
        }
        Ok(())
    }

    /// Check and record a reading; returns the credited Wh since the previous reading.
    pub(crate) fn reading(
        &mut self,
        policy: &EnergyPolicy,
        device: DeviceId,
        record: &DeviceRecord,
        at: Timestamp,
        r: &EnergyReading,
    ) -> Result<u64, Rejection> {
        let rated = record.rated_power_w.ok_or(Rejection::NoRatedPower)?;
        let daylight = match (r.direction, policy.production_daylight) {
            (EnergyDirection::Production, Some(d)) => {
                Some((d, solar_offset_ms(record).ok_or(Rejection::NoLocation)?))
            }
            _ => None,
        };
        if record.registered_at.is_some_and(|reg| at < reg) {
            return Err(Rejection::SessionBeforeHistory);
        }
        let key = (device, r.direction);
        let Some(&(t0, wh0)) = self.readings.get(&key) else {
            self.readings.insert(key, (at, r.cumulative_wh));
            return Ok(0);
        };
        if at <= t0 || r.cumulative_wh < wh0 {
            return Err(Rejection::CounterRollback);
        }
        let dt = at.0 - t0.0;
        let dwh = r.cumulative_wh - wh0;
        if dt > policy.max_gap_ms {
            // New baseline; the gap earns nothing.
            self.readings.insert(key, (at, r.cumulative_wh));
            return Err(Rejection::EnergyGap);
        }
        // From here on the reading becomes the counter's new baseline whatever the verdict:
        // energy refused for an interval is not carried into the next one (otherwise an
        // impossible jump would be credited later, averaged over a longer interval).
        self.readings.insert(key, (at, r.cumulative_wh));
        if !within_power(policy, rated, u128::from(dwh), dt) {
            return Err(Rejection::ImpossiblePower);
        }
        if let Some((d, offset)) = daylight {
            let lit = d.overlap_ms(t0.0, at.0, offset);
            if dwh > 0 && !within_power(policy, rated, u128::from(dwh), lit) {
                return Err(Rejection::ImplausibleProduction);
            }
        }
        self.credit(policy, device, rated, t0.0, at.0, dwh)?;
        Ok(dwh)
    }

    /// Check and record a charging session signed at `at`; returns its Wh.
    pub(crate) fn session(
        &mut self,
        policy: &EnergyPolicy,
        device: DeviceId,
        record: &DeviceRecord,
        at: Timestamp,
        s: &ChargingSession,
    ) -> Result<u64, Rejection> {
        let rated = record.rated_power_w.ok_or(Rejection::NoRatedPower)?;
        if s.ended_at > at {
            return Err(Rejection::InvalidStructure);
        }
        let dt = s.ended_at.0.saturating_sub(s.started_at.0);
        if dt > policy.max_session_ms {
            return Err(Rejection::SessionTooLong);
        }
        if record.registered_at.is_some_and(|reg| s.started_at < reg) {
            return Err(Rejection::SessionBeforeHistory);
        }
        if self
            .sessions
            .get(&device)
            .is_some_and(|end| s.started_at < *end)
        {
            return Err(Rejection::SessionOverlap);
        }
        if !within_power(policy, rated, u128::from(s.energy_wh), dt) {
            return Err(Rejection::ImpossiblePower);
        }
        self.credit(
            policy,
            device,
            rated,
            s.started_at.0,
            s.ended_at.0,
            s.energy_wh,
        )?;
        self.sessions.insert(device, s.ended_at);
        Ok(s.energy_wh)
    }
}

/// The built-in energy policy: [`EnergyPolicy`] with every meter's last reading, every
/// charger's last session and the energy credited per device. Applies to energy readings
/// and charging sessions ([`Outcome::Energy`]).
#[derive(Debug, Clone, Default)]
pub struct EnergyRules {
    params: EnergyPolicy,
    state: EnergyState,
}

impl EnergyRules {
    /// The policy's name.
    pub const NAME: Label = Label::new("energy");

    /// The rules with these parameters.
    pub fn new(params: EnergyPolicy) -> Self {
        EnergyRules {
            params,
            state: EnergyState::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &EnergyPolicy {
        &self.params
    }
}

impl Policy for EnergyRules {
    fn name(&self) -> Label {
        Self::NAME
    }

    fn version(&self) -> u32 {
        self.params.version
    }

    fn applies_to(&self, kind: AttestationKind) -> bool {
        kind == AttestationKind::ENERGY_READING || kind == AttestationKind::CHARGING_SESSION
    }

    fn apply(&mut self, item: &Item<'_>, outcome: &mut Outcome) -> Result<(), Rejection> {
        let wh = if let Some(r) = item.payload.get::<EnergyReading>() {
            self.state
                .reading(&self.params, *item.device, item.record, item.timestamp, r)?
        } else {
            let s = item.body::<ChargingSession>()?;
            self.state
                .session(&self.params, *item.device, item.record, item.timestamp, s)?
        };
        *outcome = Outcome::Energy { wh };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daylight_overlap_counts_each_day() {
        let d = DaylightProfile {
            sunrise_hour: 6,
            sunset_hour: 18,
        };
        // one full UTC day at longitude 0: 12 h of daylight
        assert_eq!(d.overlap_ms(0, 86_400_000, 0), 12 * HOUR_MS);
        // two days
        assert_eq!(d.overlap_ms(0, 2 * 86_400_000, 0), 24 * HOUR_MS);
        // the night hours only
        assert_eq!(d.overlap_ms(0, 6 * HOUR_MS, 0), 0);
        assert_eq!(d.overlap_ms(18 * HOUR_MS, 30 * HOUR_MS, 0), 0);
        // 90 degrees east: local solar time is UTC + 6 h, so 00:00-12:00 UTC is daylight
        assert_eq!(
            d.overlap_ms(0, 12 * HOUR_MS, 6 * HOUR_MS as i64),
            12 * HOUR_MS
        );
        // west of Greenwich, before the epoch day boundary
        assert_eq!(
            d.overlap_ms(12 * HOUR_MS, 24 * HOUR_MS, -(6 * HOUR_MS as i64)),
            12 * HOUR_MS
        );
        assert_eq!(d.overlap_ms(5, 5, 0), 0);
    }

    #[test]
    fn pro_rata_overlap() {
        let c = Credit {
            start: 0,
            end: 100,
            wh: 10,
        };
        assert_eq!(c.within(0, 100), 10);
        assert_eq!(c.within(50, 200), 5);
        assert_eq!(c.within(100, 200), 0);
        assert_eq!(c.within(0, 1), 1); // rounded up
    }
}
