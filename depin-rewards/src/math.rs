//! Exact integer arithmetic: full-width `a × b / d` with a named rounding rule.
//!
//! All reward math in this crate is integer math on `u128`. Products of two `u128` values
//! are computed at full 256-bit width (never truncated), then divided exactly and rounded
//! once with an explicit [`Rounding`] rule. There are no floats anywhere in the crate. The
//! 256-bit products and divisions are ruint's; [`Divisor`] keeps a prepared-reciprocal fast
//! path for many divisions by one value (see there why, with the measurement).

use ruint::aliases::{U128, U256};

use crate::{Error, Result};

/// How an exact rational result is turned into an integer.
///
/// All values in this crate are unsigned, so "toward zero" and "toward negative infinity"
/// coincide ([`Rounding::Floor`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rounding {
    /// Round down (truncate). Never pays out more than the exact value: the default for
    /// payouts.
    #[default]
    Floor,
    /// Round up.
    Ceil,
    /// Round to nearest, ties to the even neighbour ("banker's rounding", IEEE 754
    /// `roundTiesToEven`, `rust_decimal`'s `round_dp`). Helium uses it for per-share
    /// values and reward units.
    HalfEven,
    /// Round to nearest, ties away from zero (ties up, since values are unsigned).
    HalfUp,
}

const LO64: u128 = u64::MAX as u128;

/// A `u128` as ruint's 256-bit integer.
#[inline]
fn wide(hi: u128, lo: u128) -> U256 {
    U256::from_limbs([lo as u64, (lo >> 64) as u64, hi as u64, (hi >> 64) as u64])
}

/// The low 128 bits of a 256-bit integer (callers know the high half is zero).
#[inline]
fn low_u128(x: &U256) -> u128 {
    let [l0, l1, _, _] = *x.as_limbs();
    u128::from(l0) | (u128::from(l1) << 64)
}

/// Full 256-bit product of two `u128` values, as `(high, low)` halves (ruint's widening
/// multiplication).
///
/// ```
/// use depin_rewards::math::mul_wide;
/// assert_eq!(mul_wide(u128::MAX, 2), (1, u128::MAX - 1));
/// ```
#[inline]
pub fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let p: U256 = U128::from(a).widening_mul(U128::from(b));
    let [l0, l1, l2, l3] = *p.as_limbs();
    (
        u128::from(l2) | (u128::from(l3) << 64),
        u128::from(l0) | (u128::from(l1) << 64),
    )
}

/// Divides the 256-bit value `hi·2^128 + lo` by `d`, returning `(quotient, remainder)`, with
/// ruint's division.
///
/// Requires `hi < d` (so the quotient fits in `u128`) and `d != 0`; callers check this.
#[inline]
fn div_wide(hi: u128, lo: u128, d: u128) -> (u128, u128) {
    debug_assert!(hi < d && d != 0);
    if hi == 0 {
        let q = lo / d;
        return (q, lo - q * d);
    }
    let (q, r) = wide(hi, lo).div_rem(wide(0, d));
    (low_u128(&q), low_u128(&r))
}

/// Applies `rounding` to an exact quotient `q` with remainder `r` of a division by `d`.
#[inline]
pub(crate) fn round_quotient(q: u128, r: u128, d: u128, rounding: Rounding) -> Option<u128> {
    if r == 0 {
        return Some(q);
    }
    let up = match rounding {
        Rounding::Floor => false,
        Rounding::Ceil => true,
        // 2r > d  <=>  r > d - r (no overflow since r < d).
        Rounding::HalfEven => {
            let other = d - r;
            r > other || (r == other && q & 1 == 1)
        }
        Rounding::HalfUp => r >= d - r,
    };
    if up {
        q.checked_add(1)
    } else {
        Some(q)
    }
}

/// `a × b / d`, computed exactly at 256-bit width and rounded once with `rounding`.
///
/// Errors: [`Error::DivisionByZero`] if `d == 0`; [`Error::Overflow`] if the rounded
/// result does not fit in `u128`.
///
/// ```
/// use depin_rewards::math::{mul_div, Rounding};
/// // 10^30 × 10^30 / 10^38 = 10^22, although the product needs 200 bits.
/// let e30 = 10u128.pow(30);
/// assert_eq!(mul_div(e30, e30, 10u128.pow(38), Rounding::Floor).unwrap(), 10u128.pow(22));
/// assert_eq!(mul_div(5, 1, 2, Rounding::HalfEven).unwrap(), 2);
/// assert_eq!(mul_div(7, 1, 2, Rounding::HalfEven).unwrap(), 4);
/// ```
#[inline]
pub fn mul_div(a: u128, b: u128, d: u128, rounding: Rounding) -> Result<u128> {
    let (q, r) = mul_div_rem(a, b, d)?;
    round_quotient(q, r, d, rounding).ok_or(Error::Overflow("mul_div"))
}

/// `a × b` divided by `d` at full width: `(floor(a·b / d), (a·b) mod d)`.
///
/// Errors: [`Error::DivisionByZero`] if `d == 0`; [`Error::Overflow`] if the quotient does
/// not fit in `u128`.
///
/// ```
/// use depin_rewards::math::mul_div_rem;
/// assert_eq!(mul_div_rem(7, 3, 4).unwrap(), (5, 1));
/// ```
#[inline]
pub fn mul_div_rem(a: u128, b: u128, d: u128) -> Result<(u128, u128)> {
    if d == 0 {
        return Err(Error::DivisionByZero("mul_div"));
    }
    let (hi, lo) = mul_wide(a, b);
    if hi >= d {
        return Err(Error::Overflow("mul_div"));
    }
    Ok(div_wide(hi, lo, d))
}

/// A divisor prepared for many divisions by the same `u128` value (for example the total
/// shares of an epoch), using the reciprocal method of Möller and Granlund ("Improved division
/// by invariant integers", IEEE Trans. Computers 2011, Algorithm 5): each 256-by-128-bit
/// division then costs a handful of multiplications instead of hardware or software divisions.
///
/// Why this is not ruint's division, which [`mul_div_rem`] uses: on the 1,000,000 divisions
/// of one epoch split (`cargo bench -p depin-rewards --bench rewards -- division`, same
/// inputs, results asserted equal) the prepared divisor takes 11.4 ms and ruint's
/// `div_rem` 29.2 ms, which would put the 1M-device split (42.8 ms) above its 50 ms target.
/// Its results are checked against ruint's by the property test
/// `divisor_matches_schoolbook` (4,000 random cases plus edge values) and by that benchmark.
///
/// ```
/// use depin_rewards::math::{mul_div_rem, Divisor};
/// let total = 3 * 10u128.pow(24) + 7;
/// let d = Divisor::new(total).unwrap();
/// let (a, b) = (10u128.pow(27), 2 * 10u128.pow(18) + 1);
/// assert_eq!(d.mul_div_rem(a, b).unwrap(), mul_div_rem(a, b, total).unwrap());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Divisor {
    d: u128,
    shift: u32,
    /// normalised divisor `d << shift` (top bit set) when `d >= 2^64`
    dn: u128,
    /// reciprocal `floor((2^192 - 1) / dn) - 2^64` when `d >= 2^64`
    v: u64,
}

impl Divisor {
    /// Prepares `d` (non-zero).
    pub fn new(d: u128) -> Result<Self> {
        if d == 0 {
            return Err(Error::DivisionByZero("Divisor"));
        }
        if d >> 64 == 0 {
            return Ok(Divisor {
                d,
                shift: 0,
                dn: d,
                v: 0,
            });
        }
        let shift = d.leading_zeros();
        let dn = d << shift;
        // (2^192 - 1) = (2^64 - 1)·2^128 + (2^128 - 1); the quotient lies in [2^64, 2^65).
        let (q, _) = div_wide(LO64, u128::MAX, dn);
        let v = (q - (1u128 << 64)) as u64;
        Ok(Divisor { d, shift, dn, v })
    }

    /// The divisor.
    pub fn get(&self) -> u128 {
        self.d
    }

    /// `(floor(x / d), x mod d)` for `x = hi·2^128 + lo`; [`Error::Overflow`] if the quotient
    /// does not fit in `u128` (`hi >= d`).
    #[inline]
    pub fn div_rem_wide(&self, hi: u128, lo: u128) -> Result<(u128, u128)> {
        if hi >= self.d {
            return Err(Error::Overflow("Divisor"));
        }
        if self.d >> 64 == 0 {
            return Ok(div_wide(hi, lo, self.d));
        }
        let s = self.shift;
        let (nh, nl) = if s == 0 {
            (hi, lo)
        } else {
            ((hi << s) | (lo >> (128 - s)), lo << s)
        };
        let (q1, r) = div_3by2_inv(nh, (nl >> 64) as u64, self.dn, self.v);
        let (q0, r) = div_3by2_inv(r, nl as u64, self.dn, self.v);
        Ok(((u128::from(q1) << 64) | u128::from(q0), r >> s))
    }

    /// `(floor(a·b / d), (a·b) mod d)` at full width.
    #[inline]
    pub fn mul_div_rem(&self, a: u128, b: u128) -> Result<(u128, u128)> {
        let (hi, lo) = mul_wide(a, b);
        self.div_rem_wide(hi, lo)
    }
}

/// Möller–Granlund `div_3by2` with a precomputed reciprocal: divides `u21·2^64 + u0` by the
/// normalised `dn` (requires `u21 < dn`), returning a 64-bit quotient and the remainder.
#[inline]
fn div_3by2_inv(u21: u128, u0: u64, dn: u128, v: u64) -> (u64, u128) {
    let u2 = (u21 >> 64) as u64;
    let u1 = u21 as u64;
    let d1 = (dn >> 64) as u64;
    let d0 = dn as u64;
    let p = u128::from(v) * u128::from(u2);
    let p = p.wrapping_add(u21);
    let mut q = (p >> 64) as u64;
    let q0 = p as u64;
    let r1 = u1.wrapping_sub(q.wrapping_mul(d1));
    let t = u128::from(d0) * u128::from(q);
    let mut r = ((u128::from(r1) << 64) | u128::from(u0))
        .wrapping_sub(t)
        .wrapping_sub(dn);
    q = q.wrapping_add(1);
    if (r >> 64) as u64 >= q0 {
        q = q.wrapping_sub(1);
        r = r.wrapping_add(dn);
    }
    if r >= dn {
        q = q.wrapping_add(1);
        r -= dn;
    }
    (q, r)
}

/// `num / den` rounded with `rounding`.
///
/// ```
/// use depin_rewards::math::{div_round, Rounding};
/// assert_eq!(div_round(10, 4, Rounding::HalfEven).unwrap(), 2);
/// assert_eq!(div_round(10, 4, Rounding::HalfUp).unwrap(), 3);
/// assert_eq!(div_round(10, 4, Rounding::Ceil).unwrap(), 3);
/// ```
#[inline]
pub fn div_round(num: u128, den: u128, rounding: Rounding) -> Result<u128> {
    if den == 0 {
        return Err(Error::DivisionByZero("div_round"));
    }
    round_quotient(num / den, num % den, den, rounding).ok_or(Error::Overflow("div_round"))
}

/// Greatest common divisor (binary-free Euclid); `gcd(0, 0) == 0`.
pub(crate) const fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// `10^exp` as `u128`, or an overflow error for `exp > 38`.
pub(crate) fn pow10(exp: u32) -> Result<u128> {
    10u128.checked_pow(exp).ok_or(Error::Overflow("pow10"))
}

/// Minimal arbitrary-precision unsigned integer (little-endian `u32` limbs), used only where
/// an exact result needs more than 256 bits (geometric decay over many steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Big {
    limbs: alloc::vec::Vec<u32>,
}

impl Big {
    pub(crate) fn from_u128(mut v: u128) -> Self {
        let mut limbs = alloc::vec::Vec::with_capacity(4);
        while v != 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Big { limbs }
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    /// `self *= m`.
    pub(crate) fn mul_small(&mut self, m: u32) {
        let mut carry: u64 = 0;
        for limb in self.limbs.iter_mut() {
            let t = u64::from(*limb) * u64::from(m) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
        self.trim();
    }

    /// `self = floor(self / d)`; `d != 0`.
    pub(crate) fn div_small(&mut self, d: u32) {
        let mut rem: u64 = 0;
        for limb in self.limbs.iter_mut().rev() {
            let t = (rem << 32) | u64::from(*limb);
            *limb = (t / u64::from(d)) as u32;
            rem = t % u64::from(d);
        }
        self.trim();
    }

    /// The value as `u128`, if it fits.
    pub(crate) fn to_u128(&self) -> Option<u128> {
        if self.limbs.len() > 4 {
            return None;
        }
        Some(
            self.limbs
                .iter()
                .rev()
                .fold(0u128, |acc, &l| (acc << 32) | u128::from(l)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn div_wide_edges() {
        let d = u128::MAX;
        let (hi, lo) = mul_wide(u128::MAX, u128::MAX - 1);
        assert_eq!(div_wide(hi, lo, d), (u128::MAX - 1, 0));
        let d = (1u128 << 64) + 1;
        let (hi, lo) = mul_wide(d, 12345);
        assert_eq!(div_wide(hi, lo, d), (12345, 0));
        let d = (1u128 << 127) | 3;
        let (hi, lo) = mul_wide(d - 1, d - 2);
        let (q, r) = div_wide(hi, lo, d);
        // (d-1)(d-2) = d^2 - 3d + 2 = (d-3)·d + 2
        assert_eq!((q, r), (d - 3, 2));
    }

    #[test]
    fn big_roundtrip() {
        let mut b = Big::from_u128(u128::MAX);
        b.mul_small(17);
        b.mul_small(20);
        b.div_small(20);
        b.div_small(17);
        assert_eq!(b.to_u128(), Some(u128::MAX));
        b.div_small(7);
        assert_eq!(b.to_u128(), Some(u128::MAX / 7));
    }
}
