//! Exact distribution of a pool of base units over devices in proportion to their shares.
//!
//! Device `i` with `s_i` shares out of a total `S` is entitled to exactly `pool × s_i / S`
//! base units, a rational number. Two named modes turn that into integers:
//!
//! * [`Mode::LargestRemainder`] (Hamilton's method): every device gets
//!   `floor(pool × s_i / S)`; the `L` units left over (`L < number of devices`) go one each to
//!   the `L` devices with the largest remainders `(pool × s_i) mod S`, ties broken by the
//!   smaller device id (`Ord`). Payouts sum to the pool **exactly**.
//! * [`Mode::Floor`]: every device gets `floor(pool × s_i / S)`; the leftover is reported as
//!   [`Distribution::unallocated`] and paid to nobody (carry it over or burn it).
//!
//! In both modes no device receives more than `floor(exact) + 1` and none less than
//! `floor(exact)`, and the result depends only on the set of `(id, shares)` pairs, never on
//! input order. Products are computed at 256-bit width (see [`crate::math`]), so any `u128`
//! pool and share values work without precision loss.

use alloc::vec::Vec;
use core::cmp::Ordering;

use crate::error::ensure_no_duplicates;
use crate::fixed::serde_u128;
use crate::math::Divisor;
use crate::{Error, Result};

/// How the rational entitlements are rounded to whole base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mode {
    /// Mode (a): floor, then one extra unit to each of the largest remainders (ties by id).
    /// The payouts sum to the pool exactly.
    LargestRemainder,
    /// Mode (b): floor only; the leftover is reported as unallocated.
    Floor,
}

/// Validated shares for one epoch: unique device ids, sorted ascending, with a checked total.
///
/// Shares are plain `u128` weights; a [`crate::Fixed`] score is used through its raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shares<K> {
    entries: Vec<(K, u128)>,
    total: u128,
}

impl<K: Ord> Shares<K> {
    /// Builds shares from `(id, shares)` pairs in any order; a repeated id is an error
    /// ([`Error::DuplicateEntry`]), as is a total that overflows `u128`.
    ///
    /// ```
    /// use depin_rewards::{Error, Shares};
    /// assert!(Shares::new(vec![("b", 1), ("a", 2)]).is_ok());
    /// assert!(matches!(Shares::new(vec![("a", 1), ("a", 2)]), Err(Error::DuplicateEntry { .. })));
    /// ```
    pub fn new(mut entries: Vec<(K, u128)>) -> Result<Self> {
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        ensure_no_duplicates(&entries, |a, b| a.0 == b.0)?;
        Self::with_total(entries)
    }

    /// Builds shares from pairs that are already sorted strictly ascending by id (checked in
    /// one pass; no sorting). Errors with [`Error::DuplicateEntry`] on equal neighbours and
    /// [`Error::NotSorted`] on a descending pair.
    pub fn from_sorted(entries: Vec<(K, u128)>) -> Result<Self> {
        for (i, w) in entries.windows(2).enumerate() {
            match w[0].0.cmp(&w[1].0) {
                Ordering::Less => {}
                Ordering::Equal => return Err(Error::DuplicateEntry { index: i + 1 }),
                Ordering::Greater => return Err(Error::NotSorted { index: i + 1 }),
            }
        }
        Self::with_total(entries)
    }

    /// Builds shares from pairs in any order, **adding up** repeated ids (for inputs where a
    /// device legitimately appears once per activity, e.g. once per witnessed beacon).
    pub fn summed(mut entries: Vec<(K, u128)>) -> Result<Self> {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut merged: Vec<(K, u128)> = Vec::with_capacity(entries.len());
        for (id, s) in entries {
            match merged.last_mut() {
                Some(last) if last.0 == id => {
                    last.1 = last
                        .1
                        .checked_add(s)
                        .ok_or(Error::Overflow("summed shares"))?;
                }
                _ => merged.push((id, s)),
            }
        }
        Self::with_total(merged)
    }

    fn with_total(entries: Vec<(K, u128)>) -> Result<Self> {
        let mut total: u128 = 0;
        for (_, s) in &entries {
            total = total
                .checked_add(*s)
                .ok_or(Error::Overflow("total shares"))?;
        }
        Ok(Shares { entries, total })
    }

    /// Shares of `id`, if present (binary search).
    pub fn get(&self, id: &K) -> Option<u128> {
        self.entries
            .binary_search_by(|e| e.0.cmp(id))
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(|e| e.1)
    }
}

impl<K> Shares<K> {
    /// Sum of all shares.
    pub fn total(&self) -> u128 {
        self.total
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` if there are no devices.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `(id, shares)` pairs, sorted ascending by id.
    pub fn entries(&self) -> &[(K, u128)] {
        &self.entries
    }
}

/// One device's payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Payout<K> {
    /// Device id.
    pub id: K,
    /// Base units paid.
    #[serde(with = "serde_u128")]
    pub amount: u128,
}

/// The last device that received an extra unit in [`Mode::LargestRemainder`].
///
/// Order devices by remainder descending, then id ascending: a device receives the extra unit
/// if and only if it is not after the cutoff in that order. With the cutoff, a single device's
/// payout can be re-derived from its own receipt without the other devices' data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cutoff<K> {
    /// Remainder `(pool × s) mod S` of the last device that got an extra unit.
    #[serde(with = "serde_u128")]
    pub remainder: u128,
    /// Id of the last device that got an extra unit.
    pub id: K,
}

impl<K: Ord> Cutoff<K> {
    /// Whether a device with this remainder and id receives the extra unit.
    pub fn includes(&self, remainder: u128, id: &K) -> bool {
        remainder > self.remainder || (remainder == self.remainder && *id <= self.id)
    }
}

/// The result of [`distribute`]: one [`Payout`] per device, ascending by id (the shares
/// stay in the [`Shares`] that were distributed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Distribution<K> {
    #[serde(with = "serde_u128")]
    pool: u128,
    #[serde(with = "serde_u128")]
    total_shares: u128,
    mode: Mode,
    payouts: Vec<Payout<K>>,
    #[serde(with = "serde_u128")]
    unallocated: u128,
    #[serde(with = "serde_u128")]
    extra_units: u128,
    cutoff: Option<Cutoff<K>>,
}

impl<K> Distribution<K> {
    /// The pool that was distributed.
    pub fn pool(&self) -> u128 {
        self.pool
    }
    /// Total shares `S`.
    pub fn total_shares(&self) -> u128 {
        self.total_shares
    }
    /// The mode used.
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// One payout per device, sorted ascending by id (devices with zero payout included).
    pub fn payouts(&self) -> &[Payout<K>] {
        &self.payouts
    }
    /// Consumes the distribution, returning the payouts.
    pub fn into_payouts(self) -> Vec<Payout<K>> {
        self.payouts
    }
    /// Number of devices.
    pub fn len(&self) -> usize {
        self.payouts.len()
    }
    /// Always `false`: distributing over no devices is [`Error::EmptyEpoch`].
    pub fn is_empty(&self) -> bool {
        self.payouts.is_empty()
    }
    /// Base units paid to nobody: always `0` in [`Mode::LargestRemainder`], the floor
    /// leftover in [`Mode::Floor`].
    pub fn unallocated(&self) -> u128 {
        self.unallocated
    }
    /// Base units paid out (`pool − unallocated`).
    pub fn allocated(&self) -> u128 {
        self.pool.saturating_sub(self.unallocated)
    }
    /// Number of devices that received one extra unit ([`Mode::LargestRemainder`]).
    pub fn extra_units(&self) -> u128 {
        self.extra_units
    }
    /// The largest-remainder cutoff (`None` in [`Mode::Floor`] or when nothing was left over).
    pub fn cutoff(&self) -> Option<&Cutoff<K>> {
        self.cutoff.as_ref()
    }
}

impl<K: Ord> Distribution<K> {
    /// Position (id order) of `id`, if present (binary search).
    pub fn position(&self, id: &K) -> Option<usize> {
        self.payouts.binary_search_by(|p| p.id.cmp(id)).ok()
    }

    /// Payout of `id`, if present (binary search).
    pub fn amount_of(&self, id: &K) -> Option<u128> {
        self.position(id)
            .and_then(|i| self.payouts.get(i))
            .map(|p| p.amount)
    }
}

/// `floor(pool × s / total)` and `(pool × s) mod total`, given `q0 = pool / total` and
/// `r0 = pool % total` (so `pool × s = q0·s·total + r0·s`). Requires `s <= total`.
#[inline]
pub(crate) fn split_one(q0: u128, r0: u128, s: u128, total: u128) -> Result<(u128, u128)> {
    split_with(q0, r0, s, &Divisor::new(total)?)
}

#[inline]
fn split_with(q0: u128, r0: u128, s: u128, total: &Divisor) -> Result<(u128, u128)> {
    // q0 * s <= pool because s <= total: cannot overflow.
    let base = q0 * s;
    let (q, r) = match r0.checked_mul(s) {
        Some(p) if total.get() >> 64 == 0 => {
            let q = p / total.get();
            (q, p - q * total.get())
        }
        Some(p) => total.div_rem_wide(0, p)?,
        None => total.mul_div_rem(r0, s)?,
    };
    Ok((base + q, r))
}

/// Distributes `pool` base units over `shares` with the given [`Mode`] (the ids are cloned
/// into the payouts; the shares stay with the caller).
///
/// Errors: [`Error::EmptyEpoch`] if there are no devices, [`Error::ZeroTotalShares`] if all
/// shares are zero. In both cases nothing is paid and the whole pool stays with the caller.
///
/// ```
/// use depin_rewards::{distribute, Mode, Shares};
/// let shares = Shares::new(vec![("a", 1), ("b", 1), ("c", 1)]).unwrap();
/// let d = distribute(&shares, 100, Mode::LargestRemainder).unwrap();
/// let amounts: Vec<u128> = d.payouts().iter().map(|p| p.amount).collect();
/// assert_eq!(amounts, [34, 33, 33]); // equal remainders: the smallest id gets the extra unit
/// let d = distribute(&shares, 100, Mode::Floor).unwrap();
/// assert_eq!(d.unallocated(), 1);
/// ```
pub fn distribute<K: Ord + Clone>(
    shares: &Shares<K>,
    pool: u128,
    mode: Mode,
) -> Result<Distribution<K>> {
    run(shares, pool, mode)
}

/// Bits of remainder kept per bucket in the largest-remainder selection.
const BUCKET_BITS: u32 = 16;

/// The distribution itself.
fn run<K: Ord + Clone>(shares: &Shares<K>, pool: u128, mode: Mode) -> Result<Distribution<K>> {
    let (n, total) = (shares.entries.len(), shares.total);
    if n == 0 {
        return Err(Error::EmptyEpoch);
    }
    if total == 0 {
        return Err(Error::ZeroTotalShares);
    }
    let q0 = pool / total;
    let r0 = pool % total;
    let divisor = Divisor::new(total)?;
    let mut payouts: Vec<Payout<K>> = Vec::with_capacity(n);
    let mut paid: u128 = 0;

    // Largest remainder without sorting: remainders are bucketed by their top BUCKET_BITS
    // bits (relative to the bit length of S, so the bucket is monotone in the remainder);
    // only the bucket holding the cutoff is examined exactly.
    let lr = mode == Mode::LargestRemainder;
    let shift = (u128::BITS - total.leading_zeros()).saturating_sub(BUCKET_BITS);
    let mut buckets: Vec<u16> = if lr {
        Vec::with_capacity(n)
    } else {
        Vec::new()
    };
    let mut histogram: Vec<u32> = if lr {
        alloc::vec![0u32; 1 << BUCKET_BITS]
    } else {
        Vec::new()
    };

    for (id, s) in &shares.entries {
        let (amount, rem) = split_with(q0, r0, *s, &divisor)?;
        paid += amount; // sum of floors <= pool
        payouts.push(Payout {
            id: id.clone(),
            amount,
        });
        if lr {
            // rem < S < 2^(shift + BUCKET_BITS)
            let b = (rem >> shift) as u16;
            buckets.push(b);
            if rem != 0 {
                if let Some(h) = histogram.get_mut(usize::from(b)) {
                    *h += 1;
                }
            }
        }
    }
    let leftover = pool - paid;
    let mut result = Distribution {
        pool,
        total_shares: total,
        mode,
        payouts,
        unallocated: 0,
        extra_units: 0,
        cutoff: None,
    };
    if !lr {
        result.unallocated = leftover;
        return Ok(result);
    }
    if leftover == 0 {
        return Ok(result);
    }
    // the bucket t holding the cutoff: fewer than `leftover` non-zero remainders above it
    let mut above: u128 = 0;
    let mut threshold: Option<(u16, u128)> = None;
    for b in (0..histogram.len()).rev() {
        let count = u128::from(histogram.get(b).copied().unwrap_or(0));
        if above + count >= leftover {
            threshold = Some((b as u16, leftover - above));
            break;
        }
        above += count;
    }
    // leftover < number of non-zero remainders, so the threshold exists
    let (t, need) = threshold.ok_or(Error::Overflow("largest remainder"))?;
    let mut in_bucket: Vec<(u128, usize)> = Vec::new();
    for (i, (b, p)) in buckets.iter().zip(result.payouts.iter_mut()).enumerate() {
        if *b > t {
            p.amount += 1;
        } else if *b == t {
            let s = shares.entries.get(i).map_or(0, |e| e.1);
            let (_, rem) = split_with(q0, r0, s, &divisor)?;
            if rem != 0 {
                in_bucket.push((rem, i));
            }
        }
    }
    let top = select_top(&mut in_bucket, need)?;
    let mut cutoff: Option<(u128, usize)> = None;
    for &(rem, i) in top {
        if let Some(p) = result.payouts.get_mut(i) {
            p.amount += 1;
        }
        // the last of the top in (remainder desc, id asc) order is the cutoff
        let later = match cutoff {
            None => true,
            Some((r, j)) => rem < r || (rem == r && i > j),
        };
        if later {
            cutoff = Some((rem, i));
        }
    }
    result.extra_units = leftover;
    result.cutoff = cutoff.and_then(|(remainder, i)| {
        result.payouts.get(i).map(|p| Cutoff {
            remainder,
            id: p.id.clone(),
        })
    });
    Ok(result)
}

/// Partitions `candidates` so that its first `leftover` elements are the largest remainders
/// (ties: smaller position, i.e. smaller id) and returns them. `leftover` is smaller than the
/// number of non-zero remainders (the remainders sum to `leftover × S` and each is below `S`).
fn select_top(candidates: &mut [(u128, usize)], leftover: u128) -> Result<&[(u128, usize)]> {
    let k = usize::try_from(leftover - 1).map_err(|_| Error::Overflow("largest remainder"))?;
    if k >= candidates.len() {
        return Err(Error::Overflow("largest remainder"));
    }
    candidates.select_nth_unstable_by(k, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(candidates.get(..=k).unwrap_or(&[]))
}
