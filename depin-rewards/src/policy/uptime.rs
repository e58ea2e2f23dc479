//! Uptime threshold from hourly heartbeats.
//!
//! Rule: Helium Mobile heartbeats
//! ([HIP-74](https://github.com/helium/HIP/blob/main/0074-mobile-poc-modeled-coverage-rewards.md),
//! [helium/oracles `mobile_verifier/src/heartbeats`](https://github.com/helium/oracles/tree/main/mobile_verifier/src/heartbeats)): heartbeats are bucketed by clock hour and a
//! radio is rewarded for the day only if at least 12 distinct hours saw a valid heartbeat.
//! The multiplier is `1` at or above the threshold and `0` below it.

use alloc::vec::Vec;

use crate::fixed::Fixed;

/// Heartbeat threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UptimePolicy {
    /// Distinct buckets needed in the epoch (12 for Helium Mobile).
    pub min_buckets: u32,
    /// Bucket length in seconds (3600: clock hours, aligned to Unix time).
    pub bucket_secs: u64,
    /// Epoch length in seconds (86 400: one UTC day).
    pub epoch_secs: u64,
}

impl UptimePolicy {
    /// Helium Mobile: at least 12 of the 24 clock hours of the day.
    pub const HELIUM_MOBILE: UptimePolicy = UptimePolicy {
        min_buckets: 12,
        bucket_secs: 3600,
        epoch_secs: 86_400,
    };

    /// Distinct clock-hour buckets (`timestamp / bucket_secs`) among heartbeats with
    /// `epoch_start <= timestamp < epoch_start + epoch_secs`. Duplicates and input order do not
    /// matter; heartbeats outside the epoch are ignored.
    ///
    /// ```
    /// use depin_rewards::policy::uptime::UptimePolicy;
    /// let p = UptimePolicy::HELIUM_MOBILE;
    /// let day = 19_000 * 86_400;
    /// let beats: Vec<u64> = (0..12).map(|h| day + h * 3600 + 59).chain([day + 1, day - 1]).collect();
    /// assert_eq!(p.buckets_seen(day, &beats), 12);
    /// assert_eq!(p.multiplier(day, &beats).to_string(), "1");
    /// assert_eq!(p.multiplier(day, &beats[1..]).to_string(), "1"); // day + 1 keeps hour 0
    /// assert_eq!(p.multiplier(day, &beats[2..]).to_string(), "0");
    /// ```
    pub fn buckets_seen(&self, epoch_start: u64, heartbeats: &[u64]) -> u32 {
        if self.bucket_secs == 0 {
            return 0;
        }
        let end = epoch_start.saturating_add(self.epoch_secs);
        let mut buckets: Vec<u64> = heartbeats
            .iter()
            .filter(|&&t| t >= epoch_start && t < end)
            .map(|t| t / self.bucket_secs)
            .collect();
        buckets.sort_unstable();
        buckets.dedup();
        u32::try_from(buckets.len()).unwrap_or(u32::MAX)
    }

    /// `1` if enough buckets were seen, else `0`.
    pub fn multiplier(&self, epoch_start: u64, heartbeats: &[u64]) -> Fixed {
        if self.buckets_seen(epoch_start, heartbeats) >= self.min_buckets {
            Fixed::ONE
        } else {
            Fixed::ZERO
        }
    }
}

impl Default for UptimePolicy {
    fn default() -> Self {
        Self::HELIUM_MOBILE
    }
}
