//! Timestamps and epochs.
//!
//! Time is unix milliseconds (UTC, no leap seconds, as unix time is defined). An
//! [`EpochSchedule`] maps timestamps to epoch numbers: epoch `n` covers
//! `[genesis + n * length, genesis + (n + 1) * length)`. Helium's daily UTC epochs are
//! [`EpochSchedule::daily_utc`].

use core::fmt;

use crate::error::{Error, Result};

/// Milliseconds since the unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From unix seconds.
    pub fn from_secs(secs: u64) -> Result<Self> {
        secs.checked_mul(1000)
            .map(Timestamp)
            .ok_or(Error::Time("timestamp overflow"))
    }

    /// Unix milliseconds.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Milliseconds from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Option<u64> {
        self.0.checked_sub(earlier.0)
    }

    /// Absolute distance in milliseconds.
    pub fn abs_diff(self, other: Timestamp) -> u64 {
        self.0.abs_diff(other.0)
    }

    /// The current time (std only).
    #[cfg(feature = "std")]
    pub fn now() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// An epoch number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Epoch(pub u64);

impl Epoch {
    /// The next epoch.
    pub fn next(self) -> Result<Epoch> {
        self.0
            .checked_add(1)
            .map(Epoch)
            .ok_or(Error::Time("epoch overflow"))
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {}", self.0)
    }
}

/// Maps timestamps to epochs.
///
/// ```
/// use depin_core::{Epoch, EpochSchedule, Timestamp};
/// let daily = EpochSchedule::daily_utc();
/// // 2024-01-01T00:00:00Z is day 19723 since 1970-01-01
/// let t = Timestamp::from_secs(1_704_067_200).unwrap();
/// assert_eq!(daily.epoch_of(t).unwrap(), Epoch(19_723));
/// assert_eq!(daily.start_of(Epoch(19_723)).unwrap(), t);
/// ```
///
/// Deserialization goes through [`EpochSchedule::new`], so a zero epoch length in untrusted
/// bytes is an error, never a division by zero later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "RawSchedule")
)]
pub struct EpochSchedule {
    genesis: Timestamp,
    length_ms: u64,
}

/// The serialized fields of [`EpochSchedule`], before validation.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct RawSchedule {
    genesis: Timestamp,
    length_ms: u64,
}

#[cfg(feature = "serde")]
impl TryFrom<RawSchedule> for EpochSchedule {
    type Error = Error;
    fn try_from(raw: RawSchedule) -> Result<Self> {
        EpochSchedule::new(raw.genesis, raw.length_ms)
    }
}

/// One UTC day in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

impl EpochSchedule {
    /// A schedule starting at `genesis` with epochs of `length_ms` (must be non-zero).
    pub fn new(genesis: Timestamp, length_ms: u64) -> Result<Self> {
        if length_ms == 0 {
            return Err(Error::Time("epoch length must be non-zero"));
        }
        Ok(EpochSchedule { genesis, length_ms })
    }

    /// Daily epochs aligned to UTC midnight, numbered in days since 1970-01-01 (Helium).
    pub fn daily_utc() -> Self {
        EpochSchedule {
            genesis: Timestamp(0),
            length_ms: DAY_MS,
        }
    }

    /// Genesis timestamp.
    pub fn genesis(&self) -> Timestamp {
        self.genesis
    }

    /// Epoch length in milliseconds.
    pub fn length_ms(&self) -> u64 {
        self.length_ms
    }

    /// The epoch containing `t`.
    pub fn epoch_of(&self, t: Timestamp) -> Result<Epoch> {
        let since = t
            .since(self.genesis)
            .ok_or(Error::Time("timestamp before genesis"))?;
        Ok(Epoch(since / self.length_ms))
    }

    /// The first millisecond of `epoch`.
    pub fn start_of(&self, epoch: Epoch) -> Result<Timestamp> {
        epoch
            .0
            .checked_mul(self.length_ms)
            .and_then(|off| self.genesis.0.checked_add(off))
            .map(Timestamp)
            .ok_or(Error::Time("epoch start overflows"))
    }

    /// The first millisecond after `epoch` (exclusive end).
    pub fn end_of(&self, epoch: Epoch) -> Result<Timestamp> {
        self.start_of(epoch.next()?)
    }
}
