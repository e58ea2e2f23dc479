//! Retry with exponential backoff for retryable transport errors.
//!
//! Only [`Error::Transport`] with `retryable: true` is retried; every other error (including
//! reverts and typed contract errors) is returned at once, since repeating the same request
//! cannot change the answer.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, Result};

/// How often and how long to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, including the first (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial_backoff: Duration,
    /// Upper bound for any one delay.
    pub max_backoff: Duration,
    /// Each delay is the previous one times this factor (integer, at least 1).
    pub multiplier: u32,
}

impl Default for RetryPolicy {
    /// 5 attempts, 100 ms doubling to at most 5 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            multiplier: 2,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub const fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            multiplier: 1,
        }
    }

    /// The delay after failed attempt number `attempt` (1-based), before jitter:
    /// `min(max_backoff, initial_backoff * multiplier^(attempt - 1))`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = self
            .multiplier
            .max(1)
            .checked_pow(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// Run `op` until it succeeds, fails with a non-retryable error, or `policy.max_attempts`
/// attempts have failed (the last error is returned). Delays follow
/// [`RetryPolicy::backoff`] with "equal jitter": half the delay fixed, half random, so that
/// many clients retrying together spread out.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use depin_chains::{retry::{retry, RetryPolicy}, Error};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// let calls = AtomicU32::new(0);
/// let policy = RetryPolicy { initial_backoff: std::time::Duration::from_millis(1), ..RetryPolicy::default() };
/// let out = retry(&policy, || async {
///     if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err(Error::transient("busy")) } else { Ok(7) }
/// }).await;
/// assert_eq!(out.unwrap(), 7);
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # });
/// ```
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let attempts = policy.max_attempts.max(1);
    let mut attempt = 1u32;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < attempts => {
                let delay = jitter(policy.backoff(attempt));
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Equal jitter: `d/2 + random(0..=d/2)`. The randomness only spreads retries; it comes from
/// the clock's sub-second nanoseconds mixed through SplitMix64, no RNG dependency.
fn jitter(d: Duration) -> Duration {
    let half = d / 2;
    let span = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    if span == 0 {
        return d;
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| u64::from(t.subsec_nanos()))
        .unwrap_or(0);
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    half + Duration::from_nanos(z % span.saturating_add(1))
}

/// Classify an I/O error as a transport error: timeouts, resets and refusals are retryable.
pub fn transport_from_io(e: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    let retryable = matches!(
        e.kind(),
        K::TimedOut
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::ConnectionRefused
            | K::BrokenPipe
            | K::Interrupted
            | K::WouldBlock
            | K::UnexpectedEof
    );
    Error::Transport {
        retryable,
        message: e.to_string(),
        source: Some(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(4), Duration::from_millis(800));
        assert_eq!(p.backoff(10), Duration::from_secs(5));
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for ms in [0u64, 1, 10, 1000] {
            let d = Duration::from_millis(ms);
            let j = jitter(d);
            assert!(j >= d / 2 && j <= d, "{j:?} for {d:?}");
        }
    }
}
