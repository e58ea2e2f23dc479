//! [`Fixed`]: unsigned decimal fixed point with 18 fractional digits.

use core::fmt;
use core::str::FromStr;

use crate::math::{div_round, mul_div, pow10, Rounding};
use crate::{Error, Result};

/// An unsigned decimal fixed-point number with exactly 18 fractional digits.
///
/// Stored as a `u128` "raw" value equal to `value × 10^18` (the same scale as an 18-decimal
/// ERC-20 amount, "WAD"). Range: `0` to about `3.4 × 10^20`, resolution `10^-18`.
///
/// Every operation that can lose precision takes an explicit [`Rounding`]; none of them uses
/// floating point. Scores, multipliers and shares are `Fixed`; token amounts are plain `u128`
/// base units.
///
/// Serialisation: human-readable formats (JSON) use the exact decimal string (`"0.76"`),
/// binary formats (postcard) use the raw `u128`.
///
/// ```
/// use depin_rewards::{Fixed, Rounding};
/// let a: Fixed = "1.5".parse().unwrap();
/// let b = Fixed::from_ratio(1, 3, Rounding::Floor).unwrap();
/// assert_eq!(a.mul(b, Rounding::Floor).unwrap().to_string(), "0.499999999999999999");
/// assert_eq!(a.mul(b, Rounding::HalfEven).unwrap().to_string(), "0.5");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fixed(u128);

impl Fixed {
    /// Number of fractional decimal digits.
    pub const DECIMALS: u32 = 18;
    /// `10^18`: the raw value of `1`.
    pub const SCALE: u128 = 1_000_000_000_000_000_000;
    /// `0`.
    pub const ZERO: Fixed = Fixed(0);
    /// `1`.
    pub const ONE: Fixed = Fixed(Self::SCALE);
    /// The largest representable value.
    pub const MAX: Fixed = Fixed(u128::MAX);

    /// Wraps a raw value (`value × 10^18`).
    pub const fn from_raw(raw: u128) -> Self {
        Fixed(raw)
    }

    /// The raw value (`value × 10^18`).
    pub const fn raw(self) -> u128 {
        self.0
    }

    /// `true` if the value is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The integer `n` as a fixed-point value.
    pub fn from_int(n: u128) -> Result<Self> {
        n.checked_mul(Self::SCALE)
            .map(Fixed)
            .ok_or(Error::Overflow("Fixed::from_int"))
    }

    /// `units × 10^-decimals`, exact (`decimals <= 18`). `from_units(7600, 4)` is `0.76`.
    pub fn from_units(units: u128, decimals: u32) -> Result<Self> {
        if decimals > Self::DECIMALS {
            return Err(Error::InvalidParameter("more than 18 decimals"));
        }
        units
            .checked_mul(pow10(Self::DECIMALS - decimals)?)
            .map(Fixed)
            .ok_or(Error::Overflow("Fixed::from_units"))
    }

    /// `num / den`, rounded to 18 decimals with `rounding`.
    pub fn from_ratio(num: u128, den: u128, rounding: Rounding) -> Result<Self> {
        mul_div(num, Self::SCALE, den, rounding).map(Fixed)
    }

    /// `self + rhs`, checked.
    pub fn checked_add(self, rhs: Fixed) -> Result<Self> {
        self.0
            .checked_add(rhs.0)
            .map(Fixed)
            .ok_or(Error::Overflow("Fixed::add"))
    }

    /// `self - rhs`, checked (errors if `rhs > self`).
    pub fn checked_sub(self, rhs: Fixed) -> Result<Self> {
        self.0
            .checked_sub(rhs.0)
            .map(Fixed)
            .ok_or(Error::Overflow("Fixed::sub"))
    }

    /// `self × rhs`, computed exactly and rounded once to 18 decimals with `rounding`.
    pub fn mul(self, rhs: Fixed, rounding: Rounding) -> Result<Self> {
        mul_div(self.0, rhs.0, Self::SCALE, rounding).map(Fixed)
    }

    /// `self ÷ rhs`, computed exactly and rounded once to 18 decimals with `rounding`.
    pub fn div(self, rhs: Fixed, rounding: Rounding) -> Result<Self> {
        mul_div(self.0, Self::SCALE, rhs.0, rounding).map(Fixed)
    }

    /// `self × n` for an integer `n`, exact (checked).
    pub fn mul_int(self, n: u128) -> Result<Self> {
        self.0
            .checked_mul(n)
            .map(Fixed)
            .ok_or(Error::Overflow("Fixed::mul_int"))
    }

    /// `self ÷ n` for an integer `n`, rounded to 18 decimals with `rounding`.
    pub fn div_int(self, n: u128, rounding: Rounding) -> Result<Self> {
        div_round(self.0, n, rounding).map(Fixed)
    }

    /// `amount × self` for an integer amount of base units, rounded to a whole unit.
    ///
    /// ```
    /// use depin_rewards::{Fixed, Rounding};
    /// let quarter: Fixed = "0.25".parse().unwrap();
    /// assert_eq!(quarter.apply_to(10, Rounding::Floor).unwrap(), 2);
    /// assert_eq!(quarter.apply_to(10, Rounding::HalfEven).unwrap(), 2);
    /// assert_eq!(quarter.apply_to(10, Rounding::HalfUp).unwrap(), 3);
    /// ```
    pub fn apply_to(self, amount: u128, rounding: Rounding) -> Result<u128> {
        mul_div(amount, self.0, Self::SCALE, rounding)
    }

    /// Rounds to `decimals` fractional digits (`decimals <= 18`) with `rounding`.
    ///
    /// ```
    /// use depin_rewards::{Fixed, Rounding};
    /// let x: Fixed = "0.60666".parse().unwrap();
    /// assert_eq!(x.round_to(4, Rounding::HalfEven).unwrap().to_string(), "0.6067");
    /// ```
    pub fn round_to(self, decimals: u32, rounding: Rounding) -> Result<Self> {
        if decimals > Self::DECIMALS {
            return Err(Error::InvalidParameter("more than 18 decimals"));
        }
        let unit = pow10(Self::DECIMALS - decimals)?;
        let units = div_round(self.0, unit, rounding)?;
        units
            .checked_mul(unit)
            .map(Fixed)
            .ok_or(Error::Overflow("Fixed::round_to"))
    }

    /// The integer part (floor).
    pub const fn floor_int(self) -> u128 {
        self.0 / Self::SCALE
    }
}

impl fmt::Display for Fixed {
    /// Exact decimal form without trailing zeros: `1`, `0.25`, `0.000000000000000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.0 / Self::SCALE;
        let mut frac = self.0 % Self::SCALE;
        if frac == 0 {
            return write!(f, "{int}");
        }
        let mut width = Self::DECIMALS as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        write!(f, "{int}.{frac:0width$}")
    }
}

impl fmt::Debug for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fixed({self})")
    }
}

impl FromStr for Fixed {
    type Err = Error;

    /// Parses an exact decimal string (`"12"`, `"0.25"`, `"1.000000000000000001"`). At most
    /// 18 fractional digits; no sign, exponent or separators.
    fn from_str(s: &str) -> Result<Self> {
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int_part.is_empty()
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
            || frac_part.len() > Self::DECIMALS as usize
            || (s.contains('.') && frac_part.is_empty())
        {
            return Err(Error::InvalidDecimal);
        }
        let int: u128 = int_part.parse().map_err(|_| Error::InvalidDecimal)?;
        let frac: u128 = if frac_part.is_empty() {
            0
        } else {
            frac_part.parse().map_err(|_| Error::InvalidDecimal)?
        };
        // frac_part.len() <= 18, so the exponent is in 0..=18.
        let exp = Self::DECIMALS - frac_part.len() as u32;
        let frac_raw = frac * pow10(exp)?;
        int.checked_mul(Self::SCALE)
            .and_then(|v| v.checked_add(frac_raw))
            .map(Fixed)
            .ok_or(Error::InvalidDecimal)
    }
}

impl serde::Serialize for Fixed {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u128(self.0)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Fixed {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> core::result::Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s: alloc::borrow::Cow<'de, str> = serde::Deserialize::deserialize(deserializer)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            u128::deserialize(deserializer).map(Fixed)
        }
    }
}

/// Serde helpers for `u128` amounts: a decimal string in human-readable formats (JSON cannot
/// carry 128-bit integers safely to JavaScript), a native `u128` in binary formats.
pub mod serde_u128 {
    use alloc::borrow::Cow;

    /// Serialises a `u128` (use with `#[serde(with = "depin_rewards::serde_u128")]`).
    pub fn serialize<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(v)
        } else {
            s.serialize_u128(*v)
        }
    }

    /// Deserialises a `u128` written by [`serialize`].
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        if d.is_human_readable() {
            let s: Cow<'de, str> = serde::Deserialize::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            serde::Deserialize::deserialize(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parse_and_display() {
        for s in [
            "0",
            "1",
            "0.25",
            "12.5",
            "0.000000000000000001",
            "340282366920938463463.374607431768211455",
        ] {
            let v: Fixed = s.parse().unwrap();
            assert_eq!(v.to_string(), s);
        }
        assert_eq!(
            Fixed::MAX.to_string(),
            "340282366920938463463.374607431768211455"
        );
        for bad in [
            "",
            ".5",
            "1.",
            "-1",
            "1e3",
            "0.0000000000000000001",
            "1.2.3",
            " 1",
        ] {
            assert!(bad.parse::<Fixed>().is_err(), "{bad}");
        }
    }
}
