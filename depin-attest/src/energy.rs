//! Energy policy: cumulative counters never go back, power never exceeds the rated
//! capacity, gaps are bounded. Integer arithmetic only.
//!
//! Power check: `delta_wh * 3_600_000 * 100 <= rated_w * delta_ms * (100 + headroom_percent)`
//! (watt-hours to watt-milliseconds), computed in `u128`.

use std::collections::HashMap;

use depin_core::{DeviceId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::reason::Rejection;
use crate::types::{ChargingSession, EnergyDirection, EnergyReading};

/// Energy policy parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnergyPolicy {
    /// Policy version.
    pub version: u32,
    /// Longest gap between two readings of one counter that still earns (default 6 h).
    pub max_gap_ms: u64,
    /// Allowance above the rated power, percent (meter tolerance; default 5).
    pub headroom_percent: u32,
}

impl EnergyPolicy {
    /// The policy's name.
    pub const NAME: &'static str = "energy";
}

impl Default for EnergyPolicy {
    fn default() -> Self {
        EnergyPolicy {
            version: 1,
            max_gap_ms: 6 * 3_600_000,
            headroom_percent: 5,
        }
    }
}

fn within_power(policy: &EnergyPolicy, rated_w: u64, wh: u64, ms: u64) -> bool {
    let lhs = u128::from(wh) * 3_600_000 * 100;
    let rhs = u128::from(rated_w) * u128::from(ms) * (100 + u128::from(policy.headroom_percent));
    lhs <= rhs
}

/// Per-device energy state.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnergyState {
    readings: HashMap<(DeviceId, EnergyDirection), (Timestamp, u64)>,
    sessions: HashMap<DeviceId, Timestamp>,
}

impl EnergyState {
    /// Check and record a reading; returns the credited Wh since the previous reading.
    pub(crate) fn reading(
        &mut self,
        policy: &EnergyPolicy,
        device: DeviceId,
        rated_w: Option<u64>,
        at: Timestamp,
        r: &EnergyReading,
    ) -> Result<u64, Rejection> {
        let rated = rated_w.ok_or(Rejection::NoRatedPower)?;
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
        if !within_power(policy, rated, dwh, dt) {
            return Err(Rejection::ImpossiblePower);
        }
        self.readings.insert(key, (at, r.cumulative_wh));
        Ok(dwh)
    }

    /// Check and record a charging session signed at `at`; returns its Wh.
    pub(crate) fn session(
        &mut self,
        policy: &EnergyPolicy,
        device: DeviceId,
        rated_w: Option<u64>,
        at: Timestamp,
        s: &ChargingSession,
    ) -> Result<u64, Rejection> {
        let rated = rated_w.ok_or(Rejection::NoRatedPower)?;
        if s.ended_at > at {
            return Err(Rejection::InvalidStructure);
        }
        if self
            .sessions
            .get(&device)
            .is_some_and(|end| s.started_at < *end)
        {
            return Err(Rejection::SessionOverlap);
        }
        let dt = s.ended_at.0.saturating_sub(s.started_at.0);
        if !within_power(policy, rated, s.energy_wh, dt) {
            return Err(Rejection::ImpossiblePower);
        }
        self.sessions.insert(device, s.ended_at);
        Ok(s.energy_wh)
    }
}
