//! Location-trust multipliers from the distance to the asserted location.
//!
//! Rule: [HIP-119](https://github.com/helium/HIP/blob/main/0119-closing-gaming-loopholes-within-the-mobile-network.md)
//! location trust as used by helium/oracles (`coverage_point_calculator`
//! `location.rs`, `mobile_verifier` heartbeats): each heartbeat's trust score is `1` within
//! 300 m of the asserted location, `0.25` within 400 m, else `0`; the multiplier is the mean of
//! the scores, here rounded down to 18 decimals ([`Rounding::Floor`]).
//!
//! Distances are whole metres computed upstream (this crate has no floating-point geodesy).

use crate::fixed::Fixed;
use crate::math::Rounding;
use crate::Result;

/// Distance thresholds and the partial-trust score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LocationTrustPolicy {
    /// Full trust up to and including this many metres.
    pub full_trust_max_m: u32,
    /// Partial trust up to and including this many metres.
    pub partial_trust_max_m: u32,
    /// Score for partial trust.
    pub partial_score: Fixed,
}

impl LocationTrustPolicy {
    /// 300 m → 1, 400 m → 0.25, beyond → 0.
    pub const HELIUM_MOBILE: LocationTrustPolicy = LocationTrustPolicy {
        full_trust_max_m: 300,
        partial_trust_max_m: 400,
        partial_score: Fixed::from_raw(250_000_000_000_000_000),
    };

    /// Trust score of one heartbeat `distance_m` metres from the asserted location.
    pub fn score(&self, distance_m: u32) -> Fixed {
        if distance_m <= self.full_trust_max_m {
            Fixed::ONE
        } else if distance_m <= self.partial_trust_max_m {
            self.partial_score
        } else {
            Fixed::ZERO
        }
    }

    /// Mean trust score, floor at 18 decimals; `0` without heartbeats.
    ///
    /// ```
    /// use depin_rewards::policy::location::LocationTrustPolicy;
    /// let p = LocationTrustPolicy::HELIUM_MOBILE;
    /// assert_eq!(p.multiplier(&[0, 300, 400]).unwrap().to_string(), "0.75");
    /// assert_eq!(p.multiplier(&[10, 401, 401]).unwrap().to_string(), "0.333333333333333333");
    /// ```
    pub fn multiplier(&self, distances_m: &[u32]) -> Result<Fixed> {
        if distances_m.is_empty() {
            return Ok(Fixed::ZERO);
        }
        let mut sum = Fixed::ZERO;
        for d in distances_m {
            sum = sum.checked_add(self.score(*d))?;
        }
        sum.div_int(distances_m.len() as u128, Rounding::Floor)
    }
}

impl Default for LocationTrustPolicy {
    fn default() -> Self {
        Self::HELIUM_MOBILE
    }
}
