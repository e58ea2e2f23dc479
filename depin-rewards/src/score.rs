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
//!
//! # Network-defined evidence
//!
//! Besides the built-in kinds, a network can define its own evidence (hours of verified uptime
//! counted from frame timestamps, metered kWh, map tiles refreshed weighted by freshness, ...)
//! as an [`EvidenceRule`]: a **named, versioned** function from the network's published
//! parameters and a receipt's recorded evidence bytes to the factor value. The rule set
//! publishes [`FactorKind::Custom`] (rule name, version and parameters); a factor records
//! [`Evidence::Custom`] (rule name, version and the evidence bytes, never the parameters). A
//! verifier registers the rule implementations it trusts in [`EvidenceRules`] and checks
//! scores with [`ScoreRules::verify_with`]: the value is recomputed by the registered rule of
//! that name and version, with the **published** parameters and the recorded evidence.
//!
//! The byte layouts of a rule's parameters and evidence are the rule's own (specify them where
//! the rule is published); this crate hashes and serialises both as plain byte sequences.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::fixed::Fixed;
use crate::math::Rounding;
use crate::policy::hex_density::{scale_from_steps, DensityConfig, DensityStep, MAX_RES, MIN_RES};
use crate::policy::hip15;
use crate::policy::location::LocationTrustPolicy;
use crate::policy::speedtest::{SpeedTestPolicy, SpeedTestSample};
use crate::policy::trust::DeviceTrustPolicy;
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
    /// Evidence of a network-defined [`EvidenceRule`]: the bytes the rule's value is
    /// recomputed from, together with the **published** parameters of the rule (which a
    /// receipt never carries; see [`FactorKind::Custom`]).
    Custom {
        /// Name of the rule ([`EvidenceRule::name`]).
        rule: String,
        /// Version of the rule the value was computed under ([`EvidenceRule::version`]).
        version: u32,
        /// Recorded evidence, in the rule's own layout (serialised as a sequence of bytes).
        data: Vec<u8>,
    },
    /// (Added after `Custom`: variants keep their encoded indices.) The device's trust level at the registry, by its stable name
    /// ([`crate::policy::trust::LEVELS`]), under this policy: the multiplier the policy gives
    /// the level.
    DeviceTrust {
        /// The policy.
        policy: DeviceTrustPolicy,
        /// The level's name.
        level: String,
    },
}

impl Evidence {
    /// Re-runs the policy; `None` for [`Evidence::Given`].
    ///
    /// [`Evidence::Custom`] cannot be re-run without its rule and the published parameters:
    /// it errors with [`Error::UnknownEvidenceRule`] (use [`Evidence::evaluate_with`]).
    pub fn evaluate(&self) -> Result<Option<Fixed>> {
        Ok(Some(match self {
            Evidence::Given => return Ok(None),
            Evidence::Custom { .. } => return Err(Error::UnknownEvidenceRule),
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
            Evidence::DeviceTrust { policy, level } => policy.multiplier(level)?,
        }))
    }

    /// Re-runs the evidence like [`Evidence::evaluate`], with network-defined rules available:
    /// [`Evidence::Custom`] is evaluated by the rule of its name and version in `rules`
    /// ([`EvidenceRules::resolve`]) with the rule parameters `params` and the epoch `window`.
    ///
    /// `params` and `window` are only used by [`Evidence::Custom`]; pass the **published**
    /// parameters (those of the [`FactorKind::Custom`] the factor is published under).
    /// Custom evidence without `params` errors with [`Error::InvalidParameter`]. Built-in
    /// evidence ignores all three arguments.
    pub fn evaluate_with(
        &self,
        rules: &EvidenceRules,
        params: Option<&[u8]>,
        window: Option<EpochWindow>,
    ) -> Result<Option<Fixed>> {
        match self {
            Evidence::Custom {
                rule,
                version,
                data,
            } => {
                let params = params.ok_or(Error::InvalidParameter(
                    "custom evidence needs the published rule parameters",
                ))?;
                let rule = rules.resolve(rule, *version)?;
                rule.evaluate(params, data, window).map(Some)
            }
            _ => self.evaluate(),
        }
    }
}

/// A network-defined evidence rule: a named, versioned, pure function from the network's
/// published parameters and a factor's recorded evidence to the factor's value.
///
/// A network publishes the rule's name, version and parameters in its rule set
/// ([`FactorKind::Custom`]); receipts record the evidence ([`Evidence::Custom`]); a verifier
/// registers the implementation in [`EvidenceRules`] and checks scores with
/// [`ScoreRules::verify_with`] (or the `_with` verifiers of [`crate::receipt`]).
///
/// An implementation must be deterministic (no clock, randomness or I/O; exact integer or
/// [`Fixed`] arithmetic with named rounding) and must refuse malformed `params` or `data` with
/// an error rather than panic: `data` comes from whoever presents a receipt. Any change to
/// what [`EvidenceRule::evaluate`] returns for some input is a new
/// [`EvidenceRule::version`]; receipts computed under another version are refused.
///
/// The trait is object safe; [`EvidenceRules`] stores `Box<dyn EvidenceRule>`.
///
/// ```
/// use depin_rewards::score::{EpochWindow, EvidenceRule, EvidenceRules, Factor, FactorKind,
///     FactorRule, ScoreBreakdown, ScoreRules};
/// use depin_rewards::{Error, Fixed, Result, Rounding};
///
/// /// Metered energy: `data` is watt-hours (u64 little-endian), `params` the watt-hours worth
/// /// one share (u64 little-endian); value = wh / wh_per_share, floor at 18 decimals.
/// struct Energy;
///
/// fn read_u64(bytes: &[u8]) -> Result<u64> {
///     let b: [u8; 8] = bytes.try_into().map_err(|_| Error::InvalidParameter("expected 8 bytes"))?;
///     Ok(u64::from_le_bytes(b))
/// }
///
/// impl EvidenceRule for Energy {
///     fn name(&self) -> &str { "energy_wh" }
///     fn version(&self) -> u32 { 1 }
///     fn evaluate(&self, params: &[u8], data: &[u8], _window: Option<EpochWindow>) -> Result<Fixed> {
///         Fixed::from_ratio(u128::from(read_u64(data)?), u128::from(read_u64(params)?), Rounding::Floor)
///     }
/// }
///
/// // the network publishes: 1 kWh per share
/// let params = 1_000u64.to_le_bytes().to_vec();
/// let rules = ScoreRules::new(FactorRule::new("energy", FactorKind::custom(&Energy, params.clone())));
/// // the oracle scores a device that delivered 2.5 kWh
/// let factor = Factor::from_custom("energy", &Energy, &params, 2_500u64.to_le_bytes().to_vec(), None).unwrap();
/// assert_eq!(factor.value.to_string(), "2.5");
/// let score = ScoreBreakdown::new(factor);
/// // a verifier registers the rule and recomputes the value with the published parameters
/// let registry = EvidenceRules::new().with(Energy).unwrap();
/// rules.verify_with(&score, None, &registry).unwrap();
/// // without the rule, custom evidence cannot be checked
/// assert_eq!(rules.verify(&score, None), Err(Error::UnknownEvidenceRule));
/// ```
pub trait EvidenceRule: Send + Sync {
    /// Stable name, e.g. `"tile_freshness"` (what [`FactorKind::Custom`] and
    /// [`Evidence::Custom`] refer to).
    fn name(&self) -> &str;

    /// Version; a receipt made under another version is refused.
    fn version(&self) -> u32;

    /// Recomputes the factor value from the published parameters `params` (bytes the network
    /// publishes in its rule set) and the recorded evidence `data` (bytes in the receipt),
    /// with the epoch's time window when the rule set has an epoch timing (`None` otherwise; a
    /// rule that depends on the window must then return an error).
    fn evaluate(&self, params: &[u8], data: &[u8], window: Option<EpochWindow>) -> Result<Fixed>;
}

impl<R: EvidenceRule + ?Sized> EvidenceRule for &R {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn version(&self) -> u32 {
        (**self).version()
    }

    fn evaluate(&self, params: &[u8], data: &[u8], window: Option<EpochWindow>) -> Result<Fixed> {
        (**self).evaluate(params, data, window)
    }
}

impl<R: EvidenceRule + ?Sized> EvidenceRule for Box<R> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn version(&self) -> u32 {
        (**self).version()
    }

    fn evaluate(&self, params: &[u8], data: &[u8], window: Option<EpochWindow>) -> Result<Fixed> {
        (**self).evaluate(params, data, window)
    }
}

#[cfg(target_has_atomic = "ptr")]
impl<R: EvidenceRule + ?Sized> EvidenceRule for alloc::sync::Arc<R> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn version(&self) -> u32 {
        (**self).version()
    }

    fn evaluate(&self, params: &[u8], data: &[u8], window: Option<EpochWindow>) -> Result<Fixed> {
        (**self).evaluate(params, data, window)
    }
}

/// The network-defined [`EvidenceRule`]s a verifier trusts, one per name.
///
/// Empty by default: with an empty registry every [`Evidence::Custom`] is refused with
/// [`Error::UnknownEvidenceRule`], which is what the verifiers without a registry argument
/// ([`ScoreRules::verify`], [`crate::verify_receipt`], ...) use.
///
/// ```
/// use depin_rewards::score::{EpochWindow, EvidenceRule, EvidenceRules};
/// use depin_rewards::{Error, Fixed, Result};
/// struct One;
/// impl EvidenceRule for One {
///     fn name(&self) -> &str { "one" }
///     fn version(&self) -> u32 { 3 }
///     fn evaluate(&self, _: &[u8], _: &[u8], _: Option<EpochWindow>) -> Result<Fixed> { Ok(Fixed::ONE) }
/// }
/// let rules = EvidenceRules::new().with(One).unwrap();
/// assert_eq!(rules.get("one").map(|r| r.version()), Some(3));
/// assert!(rules.resolve("one", 3).is_ok());
/// assert_eq!(rules.resolve("one", 2).err(), Some(Error::EvidenceRuleVersion { registered: 3, required: 2 }));
/// assert_eq!(rules.resolve("two", 3).err(), Some(Error::UnknownEvidenceRule));
/// assert_eq!(EvidenceRules::new().with(One).unwrap().with(One).err(), Some(Error::DuplicateEvidenceRule));
/// assert_eq!(format!("{rules:?}"), r#"EvidenceRules { rules: [("one", 3)] }"#);
/// ```
#[derive(Default)]
pub struct EvidenceRules {
    rules: BTreeMap<String, Box<dyn EvidenceRule>>,
}

impl EvidenceRules {
    /// An empty registry.
    pub const fn new() -> Self {
        EvidenceRules {
            rules: BTreeMap::new(),
        }
    }

    /// Adds a rule; see [`EvidenceRules::insert`] for the errors.
    pub fn with<R: EvidenceRule + 'static>(mut self, rule: R) -> Result<Self> {
        self.insert(Box::new(rule))?;
        Ok(self)
    }

    /// Adds a rule under its [`EvidenceRule::name`]. Errors (and changes nothing) with
    /// [`Error::DuplicateEvidenceRule`] if a rule of that name is already registered (in any
    /// version), and with [`Error::InvalidParameter`] for an empty name.
    pub fn insert(&mut self, rule: Box<dyn EvidenceRule>) -> Result<()> {
        let name = rule.name();
        if name.is_empty() {
            return Err(Error::InvalidParameter("evidence rule with an empty name"));
        }
        if self.rules.contains_key(name) {
            return Err(Error::DuplicateEvidenceRule);
        }
        let name = String::from(name);
        self.rules.insert(name, rule);
        Ok(())
    }

    /// The rule registered under `name`, in whatever version.
    pub fn get(&self, name: &str) -> Option<&dyn EvidenceRule> {
        self.rules.get(name).map(|rule| &**rule)
    }

    /// The rule registered under `name`, required in `version`: [`Error::UnknownEvidenceRule`]
    /// if no rule has that name, [`Error::EvidenceRuleVersion`] if it has another version.
    pub fn resolve(&self, name: &str, version: u32) -> Result<&dyn EvidenceRule> {
        let rule = self.get(name).ok_or(Error::UnknownEvidenceRule)?;
        let registered = rule.version();
        if registered != version {
            return Err(Error::EvidenceRuleVersion {
                registered,
                required: version,
            });
        }
        Ok(rule)
    }

    /// Names of the registered rules, ascending.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.rules.keys().map(String::as_str)
    }

    /// Number of registered rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// `true` if no rule is registered.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

impl fmt::Debug for EvidenceRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Listing<'a>(&'a BTreeMap<String, Box<dyn EvidenceRule>>);
        impl fmt::Debug for Listing<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.0.iter().map(|(name, r)| (name.as_str(), r.version())))
                    .finish()
            }
        }
        f.debug_struct("EvidenceRules")
            .field("rules", &Listing(&self.rules))
            .finish()
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

    /// A factor computed by a network-defined rule from the published parameters `params`
    /// and the recorded evidence `data`; the factor records [`Evidence::Custom`] with the
    /// rule's name and version and `data` (not `params`: a verifier takes those from the
    /// published [`FactorKind::Custom`]).
    ///
    /// `window` must be the epoch's window as the verifier will know it
    /// ([`crate::RuleSet::window`]: `Some` exactly when the rule set has an epoch timing),
    /// or the value will not recompute. See [`EvidenceRule`] for an example.
    pub fn from_custom(
        name: impl Into<String>,
        rule: &dyn EvidenceRule,
        params: &[u8],
        data: Vec<u8>,
        window: Option<EpochWindow>,
    ) -> Result<Self> {
        let value = rule.evaluate(params, &data, window)?;
        Ok(Factor {
            name: name.into(),
            value,
            evidence: Evidence::Custom {
                rule: String::from(rule.name()),
                version: rule.version(),
                data,
            },
        })
    }

    /// Checks that the evidence reproduces the value (self-consistency only: `Given` values and
    /// the policy parameters inside the evidence are taken as they are; see
    /// [`FactorRule::verify`] for the check against published rules).
    ///
    /// [`Evidence::Custom`] has no parameters of its own and errors with
    /// [`Error::UnknownEvidenceRule`]; check it with [`FactorRule::verify_with`].
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
    /// A network-defined [`EvidenceRule`] ([`Evidence::Custom`] with the same rule name and
    /// version), evaluated with exactly these parameters and the epoch's window when the rule
    /// set has an epoch timing.
    Custom {
        /// Name of the rule ([`EvidenceRule::name`]).
        rule: String,
        /// Version of the rule ([`EvidenceRule::version`]); evidence and verifier must use
        /// exactly this one.
        version: u32,
        /// Published parameters, in the rule's own layout (serialised as a sequence of bytes).
        params: Vec<u8>,
    },
    /// (Added after `Custom`: variants keep their encoded indices.) Device trust ([`Evidence::DeviceTrust`]) under exactly this policy (name, version and
    /// multipliers).
    DeviceTrust {
        /// The multipliers per trust level.
        policy: DeviceTrustPolicy,
    },
}

impl FactorKind {
    /// The published kind of a network-defined rule: its name and version with `params`.
    pub fn custom(rule: &dyn EvidenceRule, params: Vec<u8>) -> Self {
        FactorKind::Custom {
            rule: String::from(rule.name()),
            version: rule.version(),
            params,
        }
    }

    /// `true` for the built-in kinds whose evidence depends on the epoch's [`EpochWindow`]
    /// (speed tests, uptime), for which a rule set must publish its epoch timing.
    ///
    /// [`FactorKind::Custom`] is `false`: a custom rule is given the window whenever the rule
    /// set has a timing and `None` otherwise, and a rule that needs the window refuses `None`
    /// itself (so a rule set that lacks the timing such a rule needs fails closed: none of its
    /// scores verify, and [`crate::EpochRewards::publish_with`] refuses its epochs).
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
    ///
    /// This is [`FactorRule::verify_with`] with no network-defined rules: a factor published
    /// as [`FactorKind::Custom`] errors with [`Error::UnknownEvidenceRule`].
    pub fn verify(
        &self,
        position: usize,
        factor: &Factor,
        window: Option<EpochWindow>,
    ) -> Result<()> {
        self.verify_with(position, factor, window, &EvidenceRules::new())
    }

    /// [`FactorRule::verify`] with the network-defined rules `rules` available.
    ///
    /// Under [`FactorKind::Custom`] the factor must carry [`Evidence::Custom`] (`Given` is
    /// [`Error::GivenNotAllowed`], another kind [`Error::FactorMismatch`]`("evidence kind")`)
    /// naming the published rule ([`Error::FactorMismatch`]`("evidence rule")`) in the
    /// published version ([`Error::FactorMismatch`]`("evidence rule version")`); the rule must
    /// be registered in `rules` in that version ([`Error::UnknownEvidenceRule`],
    /// [`Error::EvidenceRuleVersion`]), and its value is recomputed with the **published**
    /// parameters, the recorded evidence and `window` ([`Error::ReceiptMismatch`]`("factor
    /// value")` if it differs; errors of the rule itself are returned as they are).
    pub fn verify_with(
        &self,
        position: usize,
        factor: &Factor,
        window: Option<EpochWindow>,
        rules: &EvidenceRules,
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
            (
                FactorKind::DeviceTrust { policy },
                Evidence::DeviceTrust {
                    policy: used,
                    level,
                },
            ) => {
                if used != policy {
                    return Err(mismatch("policy parameters"));
                }
                policy.multiplier(level)?
            }
            (
                FactorKind::Custom {
                    rule,
                    version,
                    params,
                },
                Evidence::Custom {
                    rule: used,
                    version: used_version,
                    data,
                },
            ) => {
                if used != rule {
                    return Err(mismatch("evidence rule"));
                }
                if used_version != version {
                    return Err(mismatch("evidence rule version"));
                }
                rules
                    .resolve(rule, *version)?
                    .evaluate(params, data, window)?
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

    /// Checks the published parameters themselves (hex density configurations, a name for
    /// every custom rule). The parameters of custom rules are the rules' own and are not
    /// checked here.
    pub fn validate(&self) -> Result<()> {
        for r in core::iter::once(&self.base).chain(&self.multipliers) {
            match &r.kind {
                FactorKind::HexDensity { config } => config.validate()?,
                FactorKind::DeviceTrust { policy } => policy.validate()?,
                FactorKind::Custom { rule, .. } if rule.is_empty() => {
                    return Err(Error::InvalidParameter(
                        "custom evidence rule without a name",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks a score against these rules: the same number of multipliers
    /// ([`Error::FactorCountMismatch`]), every factor per [`FactorRule::verify`] (position 0
    /// is the base, `i` the `i`-th multiplier), and the share recomputed from the checked
    /// values ([`Error::ReceiptMismatch`]`("share")`). `window` is the epoch's time window,
    /// required when [`ScoreRules::needs_window`].
    ///
    /// This is [`ScoreRules::verify_with`] with no network-defined rules: a score with a
    /// factor published as [`FactorKind::Custom`] errors with [`Error::UnknownEvidenceRule`].
    pub fn verify(&self, score: &ScoreBreakdown, window: Option<EpochWindow>) -> Result<()> {
        self.verify_with(score, window, &EvidenceRules::new())
    }

    /// [`ScoreRules::verify`] with the network-defined rules `rules` available: every factor
    /// per [`FactorRule::verify_with`]. `window` is passed to custom rules as it is.
    pub fn verify_with(
        &self,
        score: &ScoreBreakdown,
        window: Option<EpochWindow>,
        rules: &EvidenceRules,
    ) -> Result<()> {
        if score.multipliers.len() != self.multipliers.len() {
            return Err(Error::FactorCountMismatch {
                expected: self.multipliers.len(),
                found: score.multipliers.len(),
            });
        }
        self.base.verify_with(0, &score.base, window, rules)?;
        for (i, (rule, factor)) in self.multipliers.iter().zip(&score.multipliers).enumerate() {
            rule.verify_with(i + 1, factor, window, rules)?;
        }
        if score.recompute()? != score.share {
            return Err(Error::ReceiptMismatch("share"));
        }
        Ok(())
    }
}
