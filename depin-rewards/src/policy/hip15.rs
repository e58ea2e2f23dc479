//! Helium HIP-15 beacon and witness reward units.
//!
//! Rule: [HIP-15](https://github.com/helium/HIP/blob/main/0015-beaconing-rewards.md), as
//! implemented by helium/oracles `iot_verifier` (`poc_beaconer_reward_unit`,
//! `poc_per_witness_reward_unit` in `runner.rs`). With `R = 4` (witness redundancy), decay
//! `0.8`, cap `2` and `n` valid witnesses of a beacon:
//!
//! * beaconer: `0` if `n = 0`; `n / R` if `n <= R`; else `min(2, 2 − 0.8^(n−R))`;
//! * each witness: `0` if `n = 0`; `1` if `n <= R`; else `min(2, (R − (1 − 0.8^(n−R))) / n)`;
//!
//! rounded to 4 decimal places, ties to even (`rust_decimal::round_dp`).
//!
//! Here the values are computed as exact rationals (`0.8^k = 4^k / 5^k`) and rounded once to
//! 4 decimals with [`Rounding::HalfEven`]; for `k >= 45`
//! (`0.8^k < 5·10^-5`) the rounding is decided analytically, so every `n` is exact.
//! Helium keeps at most 14 witnesses per beacon.

use crate::fixed::Fixed;
use crate::math::{div_round, Rounding};

/// Witness redundancy `R`: the number of witnesses a beacon needs for full reward.
pub const WITNESS_REDUNDANCY: u32 = 4;
/// Decay rate `0.8`, as the fraction `DECAY_NUM / DECAY_DEN`.
pub const DECAY_NUM: u32 = 4;
/// Denominator of the decay rate.
pub const DECAY_DEN: u32 = 5;
/// Cap on a beaconer's reward units.
pub const REWARD_UNIT_CAP: u32 = 2;
/// Decimal places reward units are rounded to (Helium's `SCALING_PRECISION`).
pub const REWARD_UNIT_DECIMALS: u32 = 4;
/// Helium's maximum number of witnesses kept per beacon.
pub const MAX_WITNESSES_PER_BEACON: u32 = 14;

/// 10^4: reward units are computed in units of 10^-4.
const UNITS: u128 = 10_000;
/// From this exponent on, `0.8^k < 5·10^-5` and the rounding result is analytic.
const EXACT_LIMIT: u32 = 45;

fn from_units(units: u128) -> Fixed {
    // units <= 2·10^4, so units·10^14 cannot overflow.
    Fixed::from_raw(units * (Fixed::SCALE / UNITS))
}

fn pow(base: u32, exp: u32) -> u128 {
    // only called with exp < 45: 5^44 < 2^103
    u128::from(base).pow(exp)
}

/// Reward units of the beaconer when `witnesses` valid witnesses were selected.
///
/// ```
/// use depin_rewards::policy::hip15::beaconer_reward_units;
/// assert_eq!(beaconer_reward_units(3).to_string(), "0.75");
/// assert_eq!(beaconer_reward_units(9).to_string(), "1.6723"); // 2 - 0.8^5 = 1.67232
/// ```
pub fn beaconer_reward_units(witnesses: u32) -> Fixed {
    let r = WITNESS_REDUNDANCY;
    if witnesses <= r {
        return from_units(u128::from(witnesses) * UNITS / u128::from(r));
    }
    let k = witnesses - r;
    let cap = u128::from(REWARD_UNIT_CAP) * UNITS;
    if k >= EXACT_LIMIT {
        // 2 − ε with ε·10^4 < 0.5 (never exactly 0.5): rounds to the cap.
        return from_units(cap);
    }
    let den = pow(DECAY_DEN, k);
    // (2·5^k − 4^k) / 5^k, scaled by 10^4
    let num = (2 * den - pow(DECAY_NUM, k)) * UNITS;
    let units = div_round(num, den, Rounding::HalfEven).unwrap_or(cap);
    from_units(units.min(cap))
}

/// Reward units of each valid witness when `witnesses` valid witnesses were selected.
///
/// ```
/// use depin_rewards::policy::hip15::witness_reward_units;
/// assert_eq!(witness_reward_units(4).to_string(), "1");
/// assert_eq!(witness_reward_units(6).to_string(), "0.6067"); // 3.64 / 6
/// ```
pub fn witness_reward_units(witnesses: u32) -> Fixed {
    let r = WITNESS_REDUNDANCY;
    if witnesses == 0 {
        return Fixed::ZERO;
    }
    if witnesses <= r {
        return Fixed::ONE;
    }
    let k = witnesses - r;
    let n = u128::from(witnesses);
    let cap = u128::from(REWARD_UNIT_CAP) * UNITS;
    // (R − 1 + 0.8^k) / n
    let base = u128::from(r - 1);
    let units = if k < EXACT_LIMIT {
        let den5 = pow(DECAY_DEN, k);
        let num = (base * den5 + pow(DECAY_NUM, k)) * UNITS;
        div_round(num, n * den5, Rounding::HalfEven).unwrap_or(cap)
    } else {
        // x = 3·10^4 / n = q + r/n and the extra term δ = 10^4·0.8^k / n is in (0, 0.5/n):
        // frac(x) + δ crosses 1/2 exactly when 2r >= n (a tie at 2r == n is pushed above
        // 1/2 by δ > 0), and never reaches the next integer.
        let x = base * UNITS;
        let (q, rem) = (x / n, x % n);
        if 2 * rem >= n {
            q + 1
        } else {
            q
        }
    };
    from_units(units.min(cap))
}
