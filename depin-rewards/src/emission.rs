//! Emission schedules: how many base units a network mints per epoch.
//!
//! Every schedule implements [`EmissionSchedule`]; epochs count from `0`. All amounts are
//! `u128` base units and every schedule is exact integer math with a named rounding rule.
//!
//! | schedule | epoch `e` emits | rounding |
//! |---|---|---|
//! | [`Constant`] | `a` | none |
//! | [`StepHalving`] | `initial / 2^floor(e / interval)` | floor |
//! | [`GeometricDecay`] | `initial × (num/den)^floor(e / step)` | floor, once, on the exact rational |
//! | [`PiecewiseTable`] | the amount of the last row starting at or before `e` | none |
//! | [`SupplyCap`] | the inner schedule, cut so the running total never exceeds the cap | none |

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::fixed::serde_u128;
use crate::math::Big;
use crate::{Error, Result};

/// A deterministic emission curve: base units minted in each epoch.
pub trait EmissionSchedule {
    /// Base units emitted in `epoch` (epochs count from `0`).
    fn emission(&self, epoch: u64) -> Result<u128>;

    /// Total base units emitted in epochs `0..epochs` (so `cumulative(0) == 0`).
    ///
    /// The provided implementation sums [`emission`](Self::emission) epoch by epoch
    /// (checked); the schedules in this module override it with closed forms.
    fn cumulative(&self, epochs: u64) -> Result<u128> {
        let mut total: u128 = 0;
        for e in 0..epochs {
            total = total
                .checked_add(self.emission(e)?)
                .ok_or(Error::Overflow("cumulative emission"))?;
        }
        Ok(total)
    }
}

impl<S: EmissionSchedule + ?Sized> EmissionSchedule for &S {
    fn emission(&self, epoch: u64) -> Result<u128> {
        (**self).emission(epoch)
    }
    fn cumulative(&self, epochs: u64) -> Result<u128> {
        (**self).cumulative(epochs)
    }
}

impl<S: EmissionSchedule + ?Sized> EmissionSchedule for Box<S> {
    fn emission(&self, epoch: u64) -> Result<u128> {
        (**self).emission(epoch)
    }
    fn cumulative(&self, epochs: u64) -> Result<u128> {
        (**self).cumulative(epochs)
    }
}

/// The same amount every epoch.
///
/// ```
/// use depin_rewards::emission::{Constant, EmissionSchedule};
/// let s = Constant::new(1_000);
/// assert_eq!(s.emission(7).unwrap(), 1_000);
/// assert_eq!(s.cumulative(3).unwrap(), 3_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Constant {
    /// Base units per epoch.
    #[serde(with = "serde_u128")]
    pub per_epoch: u128,
}

impl Constant {
    /// A constant schedule.
    pub const fn new(per_epoch: u128) -> Self {
        Constant { per_epoch }
    }
}

impl EmissionSchedule for Constant {
    fn emission(&self, _epoch: u64) -> Result<u128> {
        Ok(self.per_epoch)
    }
    fn cumulative(&self, epochs: u64) -> Result<u128> {
        self.per_epoch
            .checked_mul(u128::from(epochs))
            .ok_or(Error::Overflow("cumulative emission"))
    }
}

/// Bitcoin-style halving: `initial / 2^floor(epoch / interval)`, rounded down (a right shift).
///
/// ```
/// use depin_rewards::emission::{EmissionSchedule, StepHalving};
/// let s = StepHalving::new(1_001, 10).unwrap();
/// assert_eq!(s.emission(9).unwrap(), 1_001);
/// assert_eq!(s.emission(10).unwrap(), 500); // floor(1001 / 2)
/// assert_eq!(s.cumulative(12).unwrap(), 10 * 1_001 + 2 * 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepHalving {
    /// Emission of the first interval.
    #[serde(with = "serde_u128")]
    pub initial: u128,
    /// Epochs between halvings (non-zero).
    pub interval: u64,
}

impl StepHalving {
    /// A halving schedule; `interval` must be non-zero.
    pub fn new(initial: u128, interval: u64) -> Result<Self> {
        if interval == 0 {
            return Err(Error::InvalidParameter("halving interval is zero"));
        }
        Ok(StepHalving { initial, interval })
    }

    fn at_step(&self, step: u64) -> u128 {
        if step >= 128 {
            0
        } else {
            self.initial >> step
        }
    }
}

impl EmissionSchedule for StepHalving {
    fn emission(&self, epoch: u64) -> Result<u128> {
        if self.interval == 0 {
            return Err(Error::InvalidParameter("halving interval is zero"));
        }
        Ok(self.at_step(epoch / self.interval))
    }

    fn cumulative(&self, epochs: u64) -> Result<u128> {
        if self.interval == 0 {
            return Err(Error::InvalidParameter("halving interval is zero"));
        }
        let full = epochs / self.interval;
        let partial = epochs % self.interval;
        let interval = u128::from(self.interval);
        let mut total: u128 = 0;
        let mut step = 0u64;
        while step < full {
            let v = self.at_step(step);
            if v == 0 {
                break;
            }
            total = v
                .checked_mul(interval)
                .and_then(|x| total.checked_add(x))
                .ok_or(Error::Overflow("cumulative emission"))?;
            step += 1;
        }
        self.at_step(full)
            .checked_mul(u128::from(partial))
            .and_then(|x| total.checked_add(x))
            .ok_or(Error::Overflow("cumulative emission"))
    }
}

/// Geometric decay in exact fixed point: `initial × (num/den)^floor(epoch / step)`.
///
/// The power is evaluated exactly with arbitrary-precision integers and rounded down **once**
/// (never step by step), so `floor(initial × num^k / den^k)` is the exact value for any `k`.
/// Requires `num <= den` (a decay, not growth) and `den > 0`.
///
/// Cost grows with the number of decay steps `k` (about `k²/16` limb operations); when
/// `num < den` the value is exactly `0` once `initial × (num/den)^k < 1`, and that point is
/// reached within `89 × den` steps, which bounds the work.
///
/// DIMO's weekly pool ([`GeometricDecay::dimo_weekly`]): `1,105,000 × (17/20)^floor(week/52)`
/// DIMO (18 decimals), DIMO's published baseline issuance (DIMO documentation, docs.dimo.org;
/// summarised in the project's `REFERENCE.md`).
///
/// ```
/// use depin_rewards::emission::{EmissionSchedule, GeometricDecay};
/// let dimo = GeometricDecay::dimo_weekly();
/// let e18 = 10u128.pow(18);
/// assert_eq!(dimo.emission(51).unwrap(), 1_105_000 * e18);
/// assert_eq!(dimo.emission(52).unwrap(), 939_250 * e18); // × 17/20
/// assert_eq!(dimo.emission(104).unwrap(), 798_362_500 * e18 / 1000); // × (17/20)^2
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GeometricDecay {
    /// Emission of the first step.
    #[serde(with = "serde_u128")]
    pub initial: u128,
    /// Ratio numerator.
    pub num: u32,
    /// Ratio denominator (non-zero, `>= num`).
    pub den: u32,
    /// Epochs per decay step (non-zero).
    pub step: u64,
}

impl GeometricDecay {
    /// A decay schedule; errors unless `0 < den`, `num <= den` and `step > 0`.
    pub fn new(initial: u128, num: u32, den: u32, step: u64) -> Result<Self> {
        let s = GeometricDecay {
            initial,
            num,
            den,
            step,
        };
        s.validate()?;
        Ok(s)
    }

    /// DIMO's weekly baseline issuance: `1,105,000 × (17/20)^floor(week / 52)` DIMO with 18
    /// decimals (epoch = week).
    pub const fn dimo_weekly() -> Self {
        GeometricDecay {
            initial: 1_105_000 * 1_000_000_000_000_000_000,
            num: 17,
            den: 20,
            step: 52,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.den == 0 {
            return Err(Error::DivisionByZero("decay ratio"));
        }
        if self.num > self.den {
            return Err(Error::InvalidParameter("decay ratio above one"));
        }
        if self.step == 0 {
            return Err(Error::InvalidParameter("decay step is zero"));
        }
        Ok(())
    }

    /// `floor(initial × (num/den)^k)`, exactly.
    pub fn value_at_step(&self, k: u64) -> Result<u128> {
        self.validate()?;
        if k == 0 || self.num == self.den {
            return Ok(self.initial);
        }
        if self.num == 0 || self.initial == 0 {
            return Ok(0);
        }
        // initial < 2^128 and (num/den)^k <= (1 - 1/den)^k <= e^(-k/den); for k >= 89·den
        // that is below 2^-128, so the exact value is below one and floors to zero.
        if k >= 89u64.saturating_mul(u64::from(self.den)) {
            return Ok(0);
        }
        let mut n = Big::from_u128(self.initial);
        for _ in 0..k {
            n.mul_small(self.num);
        }
        // floor(floor(x / d) / d) == floor(x / d^2): k floor divisions are one exact floor.
        for _ in 0..k {
            n.div_small(self.den);
            if n.is_zero() {
                return Ok(0);
            }
        }
        n.to_u128().ok_or(Error::Overflow("geometric decay"))
    }
}

impl EmissionSchedule for GeometricDecay {
    fn emission(&self, epoch: u64) -> Result<u128> {
        self.validate()?;
        self.value_at_step(epoch / self.step)
    }

    fn cumulative(&self, epochs: u64) -> Result<u128> {
        self.validate()?;
        let full = epochs / self.step;
        let partial = epochs % self.step;
        let step = u128::from(self.step);
        let mut total: u128 = 0;
        let mut k = 0u64;
        while k < full {
            let v = self.value_at_step(k)?;
            if v == 0 {
                // non-increasing (num <= den): every later step is zero too
                return Ok(total);
            }
            total = v
                .checked_mul(step)
                .and_then(|x| total.checked_add(x))
                .ok_or(Error::Overflow("cumulative emission"))?;
            k += 1;
        }
        self.value_at_step(full)?
            .checked_mul(u128::from(partial))
            .and_then(|x| total.checked_add(x))
            .ok_or(Error::Overflow("cumulative emission"))
    }
}

/// A table of `(first_epoch, per_epoch)` rows: epoch `e` emits the amount of the last row whose
/// `first_epoch <= e`. The first row must start at epoch `0`; starts strictly increase.
///
/// ```
/// use depin_rewards::emission::{EmissionSchedule, PiecewiseTable};
/// let t = PiecewiseTable::new(vec![(0, 100), (10, 50), (20, 0)]).unwrap();
/// assert_eq!(t.emission(9).unwrap(), 100);
/// assert_eq!(t.emission(10).unwrap(), 50);
/// assert_eq!(t.emission(1_000).unwrap(), 0);
/// assert_eq!(t.cumulative(15).unwrap(), 10 * 100 + 5 * 50);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PiecewiseTable {
    rows: Vec<TableRow>,
}

/// One row of a [`PiecewiseTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableRow {
    /// First epoch this amount applies to.
    pub first_epoch: u64,
    /// Base units per epoch from `first_epoch` until the next row.
    #[serde(with = "serde_u128")]
    pub per_epoch: u128,
}

impl PiecewiseTable {
    /// Builds a table; rows must start at epoch 0 and be strictly increasing.
    pub fn new(rows: Vec<(u64, u128)>) -> Result<Self> {
        if rows.first().map(|r| r.0) != Some(0) {
            return Err(Error::InvalidParameter("table must start at epoch 0"));
        }
        if let Some(i) = rows.windows(2).position(|w| w[0].0 >= w[1].0) {
            return Err(Error::NotSorted { index: i + 1 });
        }
        Ok(PiecewiseTable {
            rows: rows
                .into_iter()
                .map(|(first_epoch, per_epoch)| TableRow {
                    first_epoch,
                    per_epoch,
                })
                .collect(),
        })
    }

    /// The rows.
    pub fn rows(&self) -> &[TableRow] {
        &self.rows
    }
}

impl EmissionSchedule for PiecewiseTable {
    fn emission(&self, epoch: u64) -> Result<u128> {
        let idx = self.rows.partition_point(|r| r.first_epoch <= epoch);
        match idx.checked_sub(1).and_then(|i| self.rows.get(i)) {
            Some(r) => Ok(r.per_epoch),
            None => Err(Error::InvalidParameter("table must start at epoch 0")),
        }
    }

    fn cumulative(&self, epochs: u64) -> Result<u128> {
        let mut total: u128 = 0;
        for (i, row) in self.rows.iter().enumerate() {
            if row.first_epoch >= epochs {
                break;
            }
            let end = self
                .rows
                .get(i + 1)
                .map_or(epochs, |next| next.first_epoch.min(epochs));
            let len = u128::from(end - row.first_epoch);
            total = row
                .per_epoch
                .checked_mul(len)
                .and_then(|x| total.checked_add(x))
                .ok_or(Error::Overflow("cumulative emission"))?;
        }
        Ok(total)
    }
}

/// Caps the running total of an inner schedule: epoch `e` emits
/// `min(cap, C(e + 1)) − min(cap, C(e))` where `C` is the inner cumulative emission. The epoch
/// that crosses the cap emits exactly the remainder; later epochs emit `0`.
///
/// ```
/// use depin_rewards::emission::{Constant, EmissionSchedule, SupplyCap};
/// let s = SupplyCap::new(Constant::new(400), 1_000);
/// assert_eq!(s.emission(1).unwrap(), 400);
/// assert_eq!(s.emission(2).unwrap(), 200);
/// assert_eq!(s.emission(3).unwrap(), 0);
/// assert_eq!(s.cumulative(100).unwrap(), 1_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SupplyCap<S> {
    /// The uncapped schedule.
    pub inner: S,
    /// Maximum total emitted by this schedule.
    #[serde(with = "serde_u128")]
    pub cap: u128,
}

impl<S: EmissionSchedule> SupplyCap<S> {
    /// Wraps `inner` with a total-supply cap.
    pub const fn new(inner: S, cap: u128) -> Self {
        SupplyCap { inner, cap }
    }

    fn capped_cumulative(&self, epochs: u64) -> Result<u128> {
        match self.inner.cumulative(epochs) {
            Ok(c) => Ok(c.min(self.cap)),
            // the uncapped total does not fit in u128, so it is certainly above the cap
            Err(Error::Overflow(_)) => Ok(self.cap),
            Err(e) => Err(e),
        }
    }
}

impl<S: EmissionSchedule> EmissionSchedule for SupplyCap<S> {
    fn emission(&self, epoch: u64) -> Result<u128> {
        let before = self.capped_cumulative(epoch)?;
        let after = self.capped_cumulative(epoch.saturating_add(1))?;
        after.checked_sub(before).ok_or(Error::InvalidParameter(
            "inner cumulative emission decreased",
        ))
    }

    fn cumulative(&self, epochs: u64) -> Result<u128> {
        self.capped_cumulative(epochs)
    }
}
