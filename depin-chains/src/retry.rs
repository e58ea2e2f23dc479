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

    /// The policy as a backon schedule (without jitter): the delays after attempts 1, 2, ...
    /// are [`RetryPolicy::backoff`]`(1)`, `(2)`, ..., `max_attempts - 1` of them (to a few
    /// microseconds: backon scales in `f32`).
    pub fn schedule(&self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .with_factor(self.multiplier.max(1) as f32)
            .with_max_times(self.max_attempts.max(1).saturating_sub(1) as usize)
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
/// attempts have failed (the last error is returned). The schedule is
/// [backon](https://docs.rs/backon)'s exponential backoff with the policy's numbers (the
/// nominal delays of [`RetryPolicy::backoff`]) and its jitter (a random extra of up to the
/// delay again), so that many clients retrying together spread out.
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
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    use backon::Retryable as _;
    op.retry(policy.schedule().with_jitter())
        .sleep(tokio::time::sleep)
        .when(Error::is_retryable)
        .await
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
    fn the_backon_schedule_is_the_policys_backoff() {
        use backon::BackoffBuilder as _;
        for p in [
            RetryPolicy::default(),
            RetryPolicy {
                max_attempts: 9,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
                multiplier: 3,
            },
            RetryPolicy::none(),
        ] {
            let delays: Vec<Duration> = p.schedule().build().collect();
            let expected: Vec<Duration> = (1..p.max_attempts).map(|a| p.backoff(a)).collect();
            assert_eq!(delays.len(), expected.len(), "{p:?}");
            // backon scales in f32: equal to a few microseconds
            for (d, e) in delays.iter().zip(&expected) {
                assert!(
                    d.abs_diff(*e) < Duration::from_micros(50),
                    "{d:?} vs {e:?} for {p:?}"
                );
            }
        }
    }
}
