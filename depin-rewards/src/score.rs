//! Device scores: base activity times multipliers, with the evidence that produced each factor.
//!
//! A [`ScoreBreakdown`] starts from a base [`Factor`] (e.g. HIP-15 reward units, data credits,
//! coverage points) and multiplies it by further factors (hex density, speed tier, uptime,
//! location trust, ...). Every multiplication is exact and rounded once to 18 decimals with
//! [`SCORE_ROUNDING`] (floor), in the listed order:
//!
//! ```text
//! share_0 = base
//! share_i = floor(share_{i-1} × multiplier_i)      (18 decimals)
//! ```
//!
//! Each factor carries its [`Evidence`]: either `Given` (value supplied by the caller), or the
//! raw inputs of a ready policy, which [`ScoreBreakdown::verify`] re-runs.

use alloc::string::String;
use alloc::vec::Vec;

use crate::fixed::Fixed;
use crate::math::Rounding;
use crate::policy::hex_density::{scale_from_steps, DensityStep};
use crate::policy::hip15;
use crate::policy::location::LocationTrustPolicy;
use crate::policy::speedtest::{SpeedTestPolicy, SpeedTestSample};
use crate::policy::uptime::UptimePolicy;
use crate::{Error, Result};

/// The rounding applied after every multiplication of a score: floor at 18 decimals.
pub const SCORE_ROUNDING: Rounding = Rounding::Floor;

/// The raw inputs behind a factor's value, sufficient to recompute it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Evidence {
    /// The value was supplied by the caller (e.g. verified data credits); nothing to re-run.
    Given,
    /// HIP-15 beaconer reward units for a beacon with this many valid witnesses.
    Hip15Beacon {
        /// Valid selected witnesses of the beacon.
        witnesses: u32,
    },
    /// HIP-15 per-witness reward units for a beacon with this many valid witnesses.
    Hip15Witness {
        /// Valid selected witnesses of the beacon.
        witnesses: u32,
    },
    /// HIP-17 / HIP-104 hex density: per-resolution clipped and unclipped counts.
    HexDensity {
        /// Counts of the hexes containing the device, resolutions 10 to 4.
        steps: Vec<DensityStep>,
    },
    /// Speed-test tier of these tests under this policy at `epoch_end`.
    SpeedTests {
        /// Thresholds and multipliers.
        policy: SpeedTestPolicy,
        /// Unix time (seconds) the tests are evaluated at.
        epoch_end: u64,
        /// All tests offered (the policy selects the newest ones in its window).
        samples: Vec<SpeedTestSample>,
    },
    /// Uptime threshold over heartbeat timestamps.
    Uptime {
        /// Threshold and bucket sizes.
        policy: UptimePolicy,
        /// Unix time (seconds) the epoch starts.
        epoch_start: u64,
        /// Heartbeat timestamps (Unix seconds).
        heartbeats: Vec<u64>,
    },
    /// Location trust over heartbeat distances to the asserted location.
    LocationTrust {
        /// Distance thresholds and scores.
        policy: LocationTrustPolicy,
        /// One distance per heartbeat, whole metres.
        distances_m: Vec<u32>,
    },
}

impl Evidence {
    /// Re-runs the policy; `None` for [`Evidence::Given`].
    pub fn evaluate(&self) -> Result<Option<Fixed>> {
        Ok(Some(match self {
            Evidence::Given => return Ok(None),
            Evidence::Hip15Beacon { witnesses } => hip15::beaconer_reward_units(*witnesses),
            Evidence::Hip15Witness { witnesses } => hip15::witness_reward_units(*witnesses),
            Evidence::HexDensity { steps } => scale_from_steps(steps)?,
            Evidence::SpeedTests {
                policy,
                epoch_end,
                samples,
            } => policy.multiplier(samples, *epoch_end),
            Evidence::Uptime {
                policy,
                epoch_start,
                heartbeats,
            } => policy.multiplier(*epoch_start, heartbeats),
            Evidence::LocationTrust {
                policy,
                distances_m,
            } => policy.multiplier(distances_m)?,
        }))
    }
}

/// One named factor of a score and the evidence for its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Factor {
    /// Name, e.g. `"hip15_witness"` or `"hex_density"`.
    pub name: String,
    /// Value.
    pub value: Fixed,
    /// Where the value comes from.
    pub evidence: Evidence,
}

impl Factor {
    /// A factor whose value is supplied by the caller.
    pub fn given(name: impl Into<String>, value: Fixed) -> Self {
        Factor {
            name: name.into(),
            value,
            evidence: Evidence::Given,
        }
    }

    /// A factor computed by a policy from its evidence.
    ///
    /// ```
    /// use depin_rewards::score::{Evidence, Factor};
    /// let f = Factor::from_evidence("witness", Evidence::Hip15Witness { witnesses: 5 }).unwrap();
    /// assert_eq!(f.value.to_string(), "0.76");
    /// ```
    pub fn from_evidence(name: impl Into<String>, evidence: Evidence) -> Result<Self> {
        let value = evidence.evaluate()?.ok_or(Error::InvalidParameter(
            "Given evidence has no value to compute",
        ))?;
        Ok(Factor {
            name: name.into(),
            value,
            evidence,
        })
    }

    /// Checks that the evidence reproduces the value.
    pub fn verify(&self) -> Result<()> {
        match self.evidence.evaluate()? {
            Some(v) if v != self.value => Err(Error::ReceiptMismatch("factor value")),
            _ => Ok(()),
        }
    }
}

/// A device's share for one epoch and everything it was computed from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScoreBreakdown {
    /// Base activity.
    pub base: Factor,
    /// Multipliers, applied in order.
    pub multipliers: Vec<Factor>,
    /// Resulting share (see the module docs for the rounding).
    pub share: Fixed,
}

impl ScoreBreakdown {
    /// Starts a score from its base factor.
    pub fn new(base: Factor) -> Self {
        let share = base.value;
        ScoreBreakdown {
            base,
            multipliers: Vec::new(),
            share,
        }
    }

    /// Multiplies by another factor (rounded with [`SCORE_ROUNDING`]).
    ///
    /// ```
    /// use depin_rewards::score::{Factor, ScoreBreakdown};
    /// let s = ScoreBreakdown::new(Factor::given("coverage_points", "16".parse().unwrap()))
    ///     .with(Factor::given("speed", "0.75".parse().unwrap())).unwrap()
    ///     .with(Factor::given("trust", "0.333333333333333333".parse().unwrap())).unwrap();
    /// assert_eq!(s.share.to_string(), "3.999999999999999996");
    /// ```
    pub fn with(mut self, multiplier: Factor) -> Result<Self> {
        self.share = self.share.mul(multiplier.value, SCORE_ROUNDING)?;
        self.multipliers.push(multiplier);
        Ok(self)
    }

    /// Recomputes the share from the factors' values (without re-running evidence).
    pub fn recompute(&self) -> Result<Fixed> {
        self.multipliers
            .iter()
            .try_fold(self.base.value, |acc, m| acc.mul(m.value, SCORE_ROUNDING))
    }

    /// Re-runs every factor's evidence and the products; errors with
    /// [`Error::ReceiptMismatch`] if anything differs.
    pub fn verify(&self) -> Result<()> {
        self.base.verify()?;
        for m in &self.multipliers {
            m.verify()?;
        }
        if self.recompute()? != self.share {
            return Err(Error::ReceiptMismatch("share"));
        }
        Ok(())
    }
}
