//! Helium Mobile speed-test tiers.
//!
//! Rule: Helium Mobile speed-test multipliers
//! ([HIP-74](https://github.com/helium/HIP/blob/main/0074-mobile-poc-modeled-coverage-rewards.md)
//! and later tier adjustments), as implemented in
//! [helium/oracles `mobile_verifier/src/speedtests_average.rs`](https://github.com/helium/oracles/blob/main/mobile_verifier/src/speedtests_average.rs):
//! average the
//! newest 6 tests (at least 2) of the last 48 hours with integer division (floor); each of
//! download, upload and latency falls into a tier and the **worst** tier decides:
//!
//! | tier | download | upload | latency | multiplier |
//! |---|---|---|---|---|
//! | good | >= 100 Mbps | >= 10 Mbps | < 50 ms | 1 |
//! | acceptable | >= 75 | >= 8 | < 60 | 0.75 |
//! | degraded | >= 50 | >= 5 | < 75 | 0.5 |
//! | poor | >= 30 | >= 2 | < 100 | 0.25 |
//! | failed | otherwise | | | 0 |
//!
//! Speeds are in bytes per second (1 Mbps = 125 000 B/s), latency in milliseconds.

use alloc::vec::Vec;

use crate::fixed::Fixed;

/// Bytes per second in one megabit per second.
pub const BYTES_PER_MEGABIT: u64 = 125_000;

/// `mbps` megabits per second in bytes per second.
pub const fn mbps(mbps: u64) -> u64 {
    mbps * BYTES_PER_MEGABIT
}

/// One speed test as reported by a device.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct SpeedTestSample {
    /// Unix time of the test, seconds.
    pub timestamp: u64,
    /// Upload speed, bytes per second.
    pub upload_bps: u64,
    /// Download speed, bytes per second.
    pub download_bps: u64,
    /// Latency, milliseconds.
    pub latency_ms: u32,
}

/// Speed tier, ordered from worst to best.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SpeedTier {
    /// Below every threshold, or too few tests.
    Failed,
    /// Lowest passing tier.
    Poor,
    /// Third tier.
    Degraded,
    /// Second tier.
    Acceptable,
    /// Best tier.
    Good,
}

/// Averages of the tests that count (integer division, floor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpeedTestAverage {
    /// Number of tests averaged.
    pub samples: u32,
    /// Mean upload, bytes per second (floor).
    pub upload_bps: u64,
    /// Mean download, bytes per second (floor).
    pub download_bps: u64,
    /// Mean latency, milliseconds (floor).
    pub latency_ms: u32,
}

/// Speed-test thresholds and multipliers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpeedTestPolicy {
    /// Minimum download for good, acceptable, degraded, poor (bytes/s, inclusive).
    pub download_bps: [u64; 4],
    /// Minimum upload for good, acceptable, degraded, poor (bytes/s, inclusive).
    pub upload_bps: [u64; 4],
    /// Latency must be strictly below these for good, acceptable, degraded, poor (ms).
    pub latency_ms: [u32; 4],
    /// Multipliers for good, acceptable, degraded, poor, failed.
    pub multipliers: [Fixed; 5],
    /// Newest tests averaged.
    pub window: u32,
    /// Fewer tests than this is [`SpeedTier::Failed`].
    pub min_samples: u32,
    /// Only tests with `epoch_end − max_age_secs <= timestamp < epoch_end` count.
    pub max_age_secs: u64,
}

impl SpeedTestPolicy {
    /// Helium Mobile's policy: see the module table; window 6, at least 2
    /// tests, 48 hours.
    pub const HELIUM_MOBILE: SpeedTestPolicy = SpeedTestPolicy {
        download_bps: [mbps(100), mbps(75), mbps(50), mbps(30)],
        upload_bps: [mbps(10), mbps(8), mbps(5), mbps(2)],
        latency_ms: [50, 60, 75, 100],
        multipliers: [
            Fixed::ONE,
            Fixed::from_raw(750_000_000_000_000_000),
            Fixed::from_raw(500_000_000_000_000_000),
            Fixed::from_raw(250_000_000_000_000_000),
            Fixed::ZERO,
        ],
        window: 6,
        min_samples: 2,
        max_age_secs: 48 * 3600,
    };

    /// The tests that count: inside the age window, newest `window` of them (ties in time
    /// broken by the other fields, so the choice never depends on input order).
    pub fn selected(&self, samples: &[SpeedTestSample], epoch_end: u64) -> Vec<SpeedTestSample> {
        let start = epoch_end.saturating_sub(self.max_age_secs);
        let mut v: Vec<SpeedTestSample> = samples
            .iter()
            .filter(|s| s.timestamp >= start && s.timestamp < epoch_end)
            .copied()
            .collect();
        v.sort_unstable();
        let keep = usize::try_from(self.window)
            .unwrap_or(usize::MAX)
            .min(v.len());
        v.split_off(v.len() - keep)
    }

    /// Floor averages of the selected tests (`None` if there are none).
    pub fn average(&self, samples: &[SpeedTestSample], epoch_end: u64) -> Option<SpeedTestAverage> {
        let sel = self.selected(samples, epoch_end);
        let n = sel.len() as u128;
        if n == 0 {
            return None;
        }
        let (mut up, mut down, mut lat) = (0u128, 0u128, 0u128);
        for s in &sel {
            up += u128::from(s.upload_bps);
            down += u128::from(s.download_bps);
            lat += u128::from(s.latency_ms);
        }
        // a mean of u64 (u32) values fits in u64 (u32)
        Some(SpeedTestAverage {
            samples: u32::try_from(n).unwrap_or(u32::MAX),
            upload_bps: u64::try_from(up / n).unwrap_or(u64::MAX),
            download_bps: u64::try_from(down / n).unwrap_or(u64::MAX),
            latency_ms: u32::try_from(lat / n).unwrap_or(u32::MAX),
        })
    }

    /// The tier of an average (worst of download, upload, latency).
    pub fn tier_of(&self, avg: &SpeedTestAverage) -> SpeedTier {
        if avg.samples < self.min_samples {
            return SpeedTier::Failed;
        }
        let down = tier_min(self.download_bps, avg.download_bps);
        let up = tier_min(self.upload_bps, avg.upload_bps);
        let lat = tier_below(self.latency_ms, avg.latency_ms);
        down.min(up).min(lat)
    }

    /// The tier of a device's tests at `epoch_end`.
    ///
    /// ```
    /// use depin_rewards::policy::speedtest::{mbps, SpeedTestPolicy, SpeedTestSample, SpeedTier};
    /// let p = SpeedTestPolicy::HELIUM_MOBILE;
    /// let t = |ts, up, down, lat| SpeedTestSample { timestamp: ts, upload_bps: mbps(up), download_bps: mbps(down), latency_ms: lat };
    /// // latency averages (49 + 50) / 2 = 49 (floor): still good
    /// assert_eq!(p.tier(&[t(1, 10, 100, 49), t(2, 10, 100, 50)], 100), SpeedTier::Good);
    /// assert_eq!(p.tier(&[t(1, 10, 100, 50), t(2, 10, 100, 50)], 100), SpeedTier::Acceptable);
    /// assert_eq!(p.tier(&[t(1, 10, 100, 10)], 100), SpeedTier::Failed); // one test only
    /// ```
    pub fn tier(&self, samples: &[SpeedTestSample], epoch_end: u64) -> SpeedTier {
        self.average(samples, epoch_end)
            .map_or(SpeedTier::Failed, |a| self.tier_of(&a))
    }

    /// The multiplier of a tier.
    pub fn multiplier_of(&self, tier: SpeedTier) -> Fixed {
        let i = match tier {
            SpeedTier::Good => 0,
            SpeedTier::Acceptable => 1,
            SpeedTier::Degraded => 2,
            SpeedTier::Poor => 3,
            SpeedTier::Failed => 4,
        };
        self.multipliers.get(i).copied().unwrap_or(Fixed::ZERO)
    }

    /// The multiplier of a device's tests at `epoch_end`.
    pub fn multiplier(&self, samples: &[SpeedTestSample], epoch_end: u64) -> Fixed {
        self.multiplier_of(self.tier(samples, epoch_end))
    }
}

impl Default for SpeedTestPolicy {
    fn default() -> Self {
        Self::HELIUM_MOBILE
    }
}

const TIERS: [SpeedTier; 4] = [
    SpeedTier::Good,
    SpeedTier::Acceptable,
    SpeedTier::Degraded,
    SpeedTier::Poor,
];

fn tier_min(thresholds: [u64; 4], v: u64) -> SpeedTier {
    TIERS
        .iter()
        .zip(thresholds)
        .find(|(_, t)| v >= *t)
        .map_or(SpeedTier::Failed, |(tier, _)| *tier)
}

fn tier_below(thresholds: [u32; 4], v: u32) -> SpeedTier {
    TIERS
        .iter()
        .zip(thresholds)
        .find(|(_, t)| v < *t)
        .map_or(SpeedTier::Failed, |(tier, _)| *tier)
}
