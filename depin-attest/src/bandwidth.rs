//! Bandwidth speed tests graded into tiers (Helium mobile thresholds by default). The
//! output is a tier with an integer multiplier, never a float.
//!
//! Before grading, a test must be plausible: throughput at most the policy's maxima,
//! latency at least its minimum ([`Rejection::ImplausibleSpeed`]), at most one test per
//! device per `min_interval_ms` ([`Rejection::SpeedTestTooSoon`]), and, by default, tied
//! to a network-issued challenge that was valid when the test was signed
//! ([`Rejection::UnknownChallenge`]): the network's test server hands the challenge out
//! with each test, so results cannot be made up offline or replayed in bulk.

use std::collections::VecDeque;

use depin_core::{DeviceId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::kind::{AttestationKind, Label};
use crate::pipeline::Outcome;
use crate::policy::{Item, Policy};
use crate::reason::Rejection;
use crate::types::BandwidthTest;

/// Most speed-test challenges kept at once (older ones are dropped first).
pub const MAX_CHALLENGES: usize = 64;

/// A network-issued speed-test challenge, valid for tests signed in
/// `valid_from..=valid_until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandwidthChallenge {
    /// The challenge bytes a test must carry ([`BandwidthTest::challenge`]).
    pub challenge: [u8; 32],
    /// First test timestamp it is valid for.
    pub valid_from: Timestamp,
    /// Last test timestamp it is valid for.
    pub valid_until: Timestamp,
}

/// Per-device speed-test state: the last accepted test time, and the current challenges.
#[derive(Debug, Clone, Default)]
pub(crate) struct BandwidthState {
    last_test: crate::FastMap<DeviceId, Timestamp>,
    challenges: VecDeque<BandwidthChallenge>,
}

impl BandwidthState {
    pub(crate) fn add_challenge(&mut self, c: BandwidthChallenge) {
        crate::policy::push_capped(&mut self.challenges, c, MAX_CHALLENGES);
    }

    /// Plausibility, rate and challenge checks; records the test and returns its tier.
    pub(crate) fn test(
        &mut self,
        policy: &BandwidthPolicy,
        device: DeviceId,
        at: Timestamp,
        t: &BandwidthTest,
    ) -> Result<SpeedTier, Rejection> {
        if t.download_bps > policy.max_download_bps
            || t.upload_bps > policy.max_upload_bps
            || t.latency_ms < policy.min_latency_ms
        {
            return Err(Rejection::ImplausibleSpeed);
        }
        if policy.require_challenge
            && !self
                .challenges
                .iter()
                .any(|c| c.challenge == t.challenge && c.valid_from <= at && at <= c.valid_until)
        {
            return Err(Rejection::UnknownChallenge);
        }
        if let Some(last) = self.last_test.get(&device) {
            match at.since(*last) {
                Some(dt) if dt >= policy.min_interval_ms => {}
                _ => return Err(Rejection::SpeedTestTooSoon),
            }
        }
        self.last_test.insert(device, at);
        Ok(policy.tier(t))
    }
}

/// A speed-test tier, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SpeedTier {
    /// Meets the first thresholds (multiplier 100%).
    Acceptable,
    /// Meets the second thresholds (75%).
    Degraded,
    /// Meets the third thresholds (50%).
    Poor,
    /// Meets the fourth thresholds (25%).
    Fail,
    /// Below every threshold (0%).
    Unacceptable,
}

impl SpeedTier {
    /// The reward multiplier in percent.
    pub fn multiplier_percent(self) -> u8 {
        match self {
            SpeedTier::Acceptable => 100,
            SpeedTier::Degraded => 75,
            SpeedTier::Poor => 50,
            SpeedTier::Fail => 25,
            SpeedTier::Unacceptable => 0,
        }
    }

    const ORDER: [SpeedTier; 4] = [
        SpeedTier::Acceptable,
        SpeedTier::Degraded,
        SpeedTier::Poor,
        SpeedTier::Fail,
    ];
}

/// The thresholds of one tier: a test reaches it when download and upload are at least
/// the minimums and latency is strictly below the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierThreshold {
    /// Minimum download, bits per second.
    pub min_download_bps: u64,
    /// Minimum upload, bits per second.
    pub min_upload_bps: u64,
    /// Latency must be below this, milliseconds.
    pub latency_below_ms: u32,
}

/// The bandwidth policy: tier thresholds for Acceptable, Degraded, Poor and Fail (the
/// worst metric decides), and the rolling window used by [`BandwidthPolicy::rolling_tier`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandwidthPolicy {
    /// Policy version.
    pub version: u32,
    /// Thresholds of the four reachable tiers, best first.
    pub tiers: [TierThreshold; 4],
    /// Number of most recent tests averaged (Helium: 6).
    pub window: usize,
    /// Minimum tests needed for a rolling tier (Helium: 2).
    pub min_tests: usize,
    /// Highest plausible download, bits per second (default 10 Gbit/s).
    pub max_download_bps: u64,
    /// Highest plausible upload, bits per second (default 10 Gbit/s).
    pub max_upload_bps: u64,
    /// Lowest plausible round-trip latency, milliseconds (default 1).
    pub min_latency_ms: u32,
    /// Shortest time between two tests of one device, milliseconds (default 1 h).
    pub min_interval_ms: u64,
    /// Require each test to carry a current challenge set with
    /// [`crate::Verifier::set_bandwidth_challenge`] (default `true`).
    pub require_challenge: bool,
}

impl BandwidthPolicy {
    /// The policy's name.
    pub const NAME: &'static str = "bandwidth";

    /// Helium mobile: 100/75/50/30 Mbps down, 10/8/5/2 Mbps up, latency < 50/60/75/100 ms.
    pub fn helium_mobile() -> Self {
        let t = |down: u64, up: u64, lat: u32| TierThreshold {
            min_download_bps: down * 1_000_000,
            min_upload_bps: up * 1_000_000,
            latency_below_ms: lat,
        };
        BandwidthPolicy {
            version: 2,
            tiers: [t(100, 10, 50), t(75, 8, 60), t(50, 5, 75), t(30, 2, 100)],
            window: 6,
            min_tests: 2,
            max_download_bps: 10_000_000_000,
            max_upload_bps: 10_000_000_000,
            min_latency_ms: 1,
            min_interval_ms: 3_600_000,
            require_challenge: true,
        }
    }

    /// Whether the parameters are in their documented ranges.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.window == 0 || self.min_tests > self.window {
            return Err("bandwidth window must be non-zero and hold min_tests");
        }
        if self.min_latency_ms == 0 {
            return Err("bandwidth min_latency_ms must be at least 1");
        }
        Ok(())
    }

    /// The tier of one test: the best tier whose every threshold the test meets.
    pub fn tier(&self, test: &BandwidthTest) -> SpeedTier {
        self.tiers
            .iter()
            .zip(SpeedTier::ORDER)
            .find(|(t, _)| {
                test.download_bps >= t.min_download_bps
                    && test.upload_bps >= t.min_upload_bps
                    && test.latency_ms < t.latency_below_ms
            })
            .map(|(_, tier)| tier)
            .unwrap_or(SpeedTier::Unacceptable)
    }

    /// The tier of the integer averages (floored) of the last `window` tests (oldest
    /// first in `tests`); `None` with fewer than `min_tests`.
    pub fn rolling_tier(&self, tests: &[BandwidthTest]) -> Option<SpeedTier> {
        let recent = &tests[tests.len().saturating_sub(self.window)..];
        if recent.is_empty() || recent.len() < self.min_tests {
            return None;
        }
        let n = recent.len() as u128;
        let avg = |f: fn(&BandwidthTest) -> u64| {
            (recent.iter().map(|t| u128::from(f(t))).sum::<u128>() / n) as u64
        };
        Some(self.tier(&BandwidthTest {
            download_bps: avg(|t| t.download_bps),
            upload_bps: avg(|t| t.upload_bps),
            latency_ms: u32::try_from(avg(|t| u64::from(t.latency_ms))).unwrap_or(u32::MAX),
            challenge: [0; 32],
        }))
    }
}

impl Default for BandwidthPolicy {
    fn default() -> Self {
        Self::helium_mobile()
    }
}

/// The built-in bandwidth policy: [`BandwidthPolicy`] with each device's last test and the
/// current network-issued challenges. Applies to speed tests ([`Outcome::Tier`]).
#[derive(Debug, Clone, Default)]
pub struct BandwidthRules {
    params: BandwidthPolicy,
    state: BandwidthState,
}

impl BandwidthRules {
    /// The policy's name.
    pub const NAME: Label = Label::new("bandwidth");

    /// The rules with these parameters.
    pub fn new(params: BandwidthPolicy) -> Self {
        BandwidthRules {
            params,
            state: BandwidthState::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &BandwidthPolicy {
        &self.params
    }

    /// Add a network-issued speed-test challenge (see
    /// [`BandwidthPolicy::require_challenge`]); at most [`MAX_CHALLENGES`] are kept, the
    /// oldest dropped first.
    pub fn add_challenge(&mut self, challenge: BandwidthChallenge) {
        self.state.add_challenge(challenge);
    }
}

impl Policy for BandwidthRules {
    fn name(&self) -> Label {
        Self::NAME
    }

    fn version(&self) -> u32 {
        self.params.version
    }

    fn applies_to(&self, kind: AttestationKind) -> bool {
        kind == AttestationKind::BANDWIDTH_TEST
    }

    fn apply(&mut self, item: &Item<'_>, outcome: &mut Outcome) -> Result<(), Rejection> {
        let t = item.body::<BandwidthTest>()?;
        let tier = self
            .state
            .test(&self.params, *item.device, item.timestamp, t)?;
        *outcome = Outcome::Tier(tier);
        Ok(())
    }
}
