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
//!
//! A score is only as good as the parameters it was computed with, and a score carries its own
//! (the policies inside its evidence). [`ScoreBreakdown::verify`] therefore proves nothing
//! about *which* rules were used; [`ScoreRules::verify`] checks a score against the rules a
//! network published: the same factors in the same order, each with the evidence kind and the
//! policy parameters of its [`FactorRule`], `Given` values only where a rule allows them, and
//! epoch-dependent inputs (uptime epoch start, speed-test evaluation time) equal to the
//! epoch's [`EpochWindow`]. Every value is recomputed with the **published** parameters.

use alloc::string::String;
use alloc::vec::Vec;

use crate::fixed::Fixed;
use crate::math::Rounding;
use crate::policy::hex_density::{scale_from_steps, DensityConfig, DensityStep, MAX_RES, MIN_RES};
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

    /// Checks that the evidence reproduces the value (self-consistency only: `Given` values and
    /// the policy parameters inside the evidence are taken as they are; see
    /// [`FactorRule::verify`] for the check against published rules).
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
    ///
    /// This is a self-consistency check: it runs the policies with the parameters the score
    /// carries and accepts every `Given` value. Whether those were the network's rules is
    /// checked by [`ScoreRules::verify`].
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

/// The Unix-second bounds of one epoch, for evidence that depends on the epoch's time.
///
/// [`Evidence::Uptime`] must be evaluated from `start` and [`Evidence::SpeedTests`] at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EpochWindow {
    /// First second of the epoch (Unix time).
    pub start: u64,
    /// First second after the epoch (Unix time).
    pub end: u64,
}

/// What evidence a factor must carry, and the parameters its policy runs with, as published by
/// the network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FactorKind {
    /// The value is supplied by the oracle ([`Evidence::Given`]); the only kind under which
    /// `Given` evidence is accepted. Values above `max` (when set) are refused.
    Given {
        /// Largest accepted value, if the network publishes one.
        max: Option<Fixed>,
    },
    /// HIP-15 beaconer reward units ([`Evidence::Hip15Beacon`]).
    Hip15Beacon,
    /// HIP-15 per-witness reward units ([`Evidence::Hip15Witness`]).
    Hip15Witness,
    /// HIP-17 / HIP-104 hex density ([`Evidence::HexDensity`]) under `config`: one step per
    /// resolution 10 down to 4, each consistent with the clipping rule (clipped count at most
    /// the resolution's `max`, at least `min(unclipped, target)`, a parent's unclipped count at
    /// least its child's clipped count).
    HexDensity {
        /// Density parameters.
        config: DensityConfig,
    },
    /// Speed-test tier ([`Evidence::SpeedTests`]) under exactly this policy, evaluated at the
    /// end of the epoch.
    SpeedTests {
        /// Thresholds and multipliers.
        policy: SpeedTestPolicy,
    },
    /// Uptime threshold ([`Evidence::Uptime`]) under exactly this policy, from the start of the
    /// epoch.
    Uptime {
        /// Threshold and bucket sizes.
        policy: UptimePolicy,
    },
    /// Location trust ([`Evidence::LocationTrust`]) under exactly this policy.
    LocationTrust {
        /// Distance thresholds and scores.
        policy: LocationTrustPolicy,
    },
}

impl FactorKind {
    /// `true` for the kinds whose evidence depends on the epoch's [`EpochWindow`].
    pub fn needs_window(&self) -> bool {
        matches!(
            self,
            FactorKind::SpeedTests { .. } | FactorKind::Uptime { .. }
        )
    }
}

/// The published rule for one factor of a score: its name and its [`FactorKind`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FactorRule {
    /// Name the factor must carry, e.g. `"hip15_witness"`.
    pub name: String,
    /// Evidence and parameters.
    pub kind: FactorKind,
}

impl FactorRule {
    /// A rule for the factor called `name`.
    pub fn new(name: impl Into<String>, kind: FactorKind) -> Self {
        FactorRule {
            name: name.into(),
            kind,
        }
    }

    /// Checks one factor against this rule and recomputes its value with the rule's
    /// parameters. `position` is reported in errors (0 = base, `i` = the `i`-th multiplier).
    ///
    /// Errors: [`Error::FactorMismatch`] for another name, evidence kind, policy, epoch time or
    /// an implausible hex density step, or a `Given` value above the published maximum;
    /// [`Error::GivenNotAllowed`] for `Given` evidence under any other kind;
    /// [`Error::ReceiptMismatch`]`("factor value")` if the recomputed value differs.
    pub fn verify(
        &self,
        position: usize,
        factor: &Factor,
        window: Option<EpochWindow>,
    ) -> Result<()> {
        let mismatch = |reason: &'static str| Error::FactorMismatch {
            factor: position,
            reason,
        };
        if factor.name != self.name {
            return Err(mismatch("name"));
        }
        let value = match (&self.kind, &factor.evidence) {
            (FactorKind::Given { max }, Evidence::Given) => {
                if matches!(max, Some(m) if factor.value > *m) {
                    return Err(mismatch("given value above the published maximum"));
                }
                factor.value
            }
            (_, Evidence::Given) => return Err(Error::GivenNotAllowed { factor: position }),
            (FactorKind::Hip15Beacon, Evidence::Hip15Beacon { witnesses }) => {
                hip15::beaconer_reward_units(*witnesses)
            }
            (FactorKind::Hip15Witness, Evidence::Hip15Witness { witnesses }) => {
                hip15::witness_reward_units(*witnesses)
            }
            (FactorKind::HexDensity { config }, Evidence::HexDensity { steps }) => {
                if !density_steps_plausible(config, steps) {
                    return Err(mismatch("hex density counts"));
                }
                scale_from_steps(steps)?
            }
            (
                FactorKind::SpeedTests { policy },
                Evidence::SpeedTests {
                    policy: used,
                    epoch_end,
                    samples,
                },
            ) => {
                if used != policy {
                    return Err(mismatch("policy parameters"));
                }
                let w = window.ok_or(mismatch("epoch window unknown"))?;
                if *epoch_end != w.end {
                    return Err(mismatch("epoch time"));
                }
                policy.multiplier(samples, w.end)
            }
            (
                FactorKind::Uptime { policy },
                Evidence::Uptime {
                    policy: used,
                    epoch_start,
                    heartbeats,
                },
            ) => {
                if used != policy {
                    return Err(mismatch("policy parameters"));
                }
                let w = window.ok_or(mismatch("epoch window unknown"))?;
                if *epoch_start != w.start {
                    return Err(mismatch("epoch time"));
                }
                policy.multiplier(w.start, heartbeats)
            }
            (
                FactorKind::LocationTrust { policy },
                Evidence::LocationTrust {
                    policy: used,
                    distances_m,
                },
            ) => {
                if used != policy {
                    return Err(mismatch("policy parameters"));
                }
                policy.multiplier(distances_m)?
            }
            _ => return Err(mismatch("evidence kind")),
        };
        if value != factor.value {
            return Err(Error::ReceiptMismatch("factor value"));
        }
        Ok(())
    }
}

/// Necessary conditions on hex density steps produced by
/// [`crate::policy::hex_density`]'s map: resolutions 10 down to 4, and at each one
/// `min(unclipped, target) <= clipped <= min(unclipped, max)`, the device's own hex counted
/// (`unclipped >= 1`), and a parent's unclipped count at least the child's clipped count.
fn density_steps_plausible(config: &DensityConfig, steps: &[DensityStep]) -> bool {
    if config.validate().is_err() || steps.len() != usize::from(MAX_RES - MIN_RES + 1) {
        return false;
    }
    let mut child_clipped: Option<u64> = None;
    for (j, s) in steps.iter().enumerate() {
        if usize::from(MAX_RES).checked_sub(j) != Some(usize::from(s.resolution)) {
            return false;
        }
        let Some(c) = config.at(s.resolution) else {
            return false;
        };
        if s.unclipped == 0
            || s.clipped > s.unclipped
            || s.clipped > c.max
            || s.clipped < s.unclipped.min(c.target)
            || child_clipped.is_some_and(|child| s.unclipped < child)
        {
            return false;
        }
        child_clipped = Some(s.clipped);
    }
    true
}

/// The published rules of one category's scores: the base factor and the multipliers, in
/// order.
///
/// ```
/// use depin_rewards::policy::location::LocationTrustPolicy;
/// use depin_rewards::score::{Evidence, Factor, FactorKind, FactorRule, ScoreBreakdown, ScoreRules};
/// use depin_rewards::{Error, Fixed};
/// let rules = ScoreRules::new(FactorRule::new("witness", FactorKind::Hip15Witness)).with(
///     FactorRule::new("trust", FactorKind::LocationTrust { policy: LocationTrustPolicy::HELIUM_MOBILE }),
/// );
/// let trust = |policy| Factor::from_evidence("trust", Evidence::LocationTrust { policy, distances_m: vec![350] });
/// let base = Factor::from_evidence("witness", Evidence::Hip15Witness { witnesses: 5 }).unwrap();
/// let honest = ScoreBreakdown::new(base.clone()).with(trust(LocationTrustPolicy::HELIUM_MOBILE).unwrap()).unwrap();
/// rules.verify(&honest, None).unwrap();
/// // the same evidence under a self-chosen policy (partial trust scored as full trust)
/// let lenient = LocationTrustPolicy { partial_score: Fixed::ONE, ..LocationTrustPolicy::HELIUM_MOBILE };
/// let forged = ScoreBreakdown::new(base).with(trust(lenient).unwrap()).unwrap();
/// forged.verify().unwrap(); // consistent with itself...
/// assert_eq!(rules.verify(&forged, None), // ...but not with the published rules
///     Err(Error::FactorMismatch { factor: 1, reason: "policy parameters" }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScoreRules {
    /// Rule of the base factor.
    pub base: FactorRule,
    /// Rules of the multipliers, in the order they are applied.
    pub multipliers: Vec<FactorRule>,
}

impl ScoreRules {
    /// Rules with this base factor and no multipliers.
    pub fn new(base: FactorRule) -> Self {
        ScoreRules {
            base,
            multipliers: Vec::new(),
        }
    }

    /// Appends a multiplier rule.
    pub fn with(mut self, multiplier: FactorRule) -> Self {
        self.multipliers.push(multiplier);
        self
    }

    /// `true` if any factor depends on the epoch's [`EpochWindow`].
    pub fn needs_window(&self) -> bool {
        core::iter::once(&self.base)
            .chain(&self.multipliers)
            .any(|r| r.kind.needs_window())
    }

    /// Checks the published parameters themselves (hex density configurations).
    pub fn validate(&self) -> Result<()> {
        for r in core::iter::once(&self.base).chain(&self.multipliers) {
            if let FactorKind::HexDensity { config } = &r.kind {
                config.validate()?;
            }
        }
        Ok(())
    }

    /// Checks a score against these rules: the same number of multipliers
    /// ([`Error::FactorCountMismatch`]), every factor per [`FactorRule::verify`] (position 0
    /// is the base, `i` the `i`-th multiplier), and the share recomputed from the checked
    /// values ([`Error::ReceiptMismatch`]`("share")`). `window` is the epoch's time window,
    /// required when [`ScoreRules::needs_window`].
    pub fn verify(&self, score: &ScoreBreakdown, window: Option<EpochWindow>) -> Result<()> {
        if score.multipliers.len() != self.multipliers.len() {
            return Err(Error::FactorCountMismatch {
                expected: self.multipliers.len(),
                found: score.multipliers.len(),
            });
        }
        self.base.verify(0, &score.base, window)?;
        for (i, (rule, factor)) in self.multipliers.iter().zip(&score.multipliers).enumerate() {
            rule.verify(i + 1, factor, window)?;
        }
        if score.recompute()? != score.share {
            return Err(Error::ReceiptMismatch("share"));
        }
        Ok(())
    }
}
