//! Helium HIP-17 / HIP-104 hex density scaling over H3.
//!
//! Rule: [HIP-17](https://github.com/helium/HIP/blob/main/0017-hex-density-based-transmit-reward-scaling.md)
//! with the parameters of
//! [HIP-104](https://github.com/helium/HIP/blob/main/0104-finetune-hip17-parameters-to-tackle-density.md), as
//! implemented by helium/oracles `iot_verifier/src/hex_density.rs`.
//!
//! Each asserted hotspot counts once in its resolution-11 hex. Going up from resolution 10 to
//! 4, a hex's *unclipped* count is the sum of its children's *clipped* counts; *occupied* is
//! the number of hexes in its 1-ring (itself included) whose count reaches the resolution's
//! `target`; `limit = min(max, target × max(occupied − N + 1, 1))` and
//! `clipped = min(limit, unclipped)`. A hotspot's scale is the product over resolutions 4..=10
//! of `clipped / unclipped` of the hexes containing it, rounded to 4 decimals, ties to even.
//!
//! Here the product is an exact rational, rounded once ([`Rounding::HalfEven`]). Helium
//! evaluates the occupancy while clipping in hash-map order; because `limit >= target`, a
//! hex's clipped count reaches `target` exactly when its unclipped count does, so evaluating
//! occupancy on unclipped counts (as done here) gives the same, order-independent result.
//!
//! The pure scale arithmetic ([`DensityStep`], [`scale_from_steps`]) is always available; the
//! map over H3 cells ([`HexDensityMap`]) needs the `h3` feature.

use crate::fixed::Fixed;
use crate::math::{gcd, mul_div, Rounding};
use crate::{Error, Result};

/// Decimal places of a hex scale (Helium's `SCALING_PRECISION`).
pub const SCALE_DECIMALS: u32 = 4;

/// Density parameters of one H3 resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResConfig {
    /// `N`: occupied neighbours allowed before the limit starts to grow.
    pub neighbors: u64,
    /// Density target per hex.
    pub target: u64,
    /// Maximum clipped count per hex (`>= target`).
    pub max: u64,
}

/// Density parameters for resolutions 4 to 10 (index 0 is resolution 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DensityConfig {
    /// Parameters of resolutions 4, 5, ..., 10.
    pub resolutions: [ResConfig; 7],
}

/// Coarsest resolution that is scaled.
pub const MIN_RES: u8 = 4;
/// Finest resolution that is scaled (hotspots are counted at resolution 11).
pub const MAX_RES: u8 = 10;

const fn rc(neighbors: u64, target: u64, max: u64) -> ResConfig {
    ResConfig {
        neighbors,
        target,
        max,
    }
}

impl DensityConfig {
    /// HIP-104 parameters: r4 (2, 500, 1000), r5 (4, 100, 200), r6 (4, 25, 50), r7 (4, 5, 10),
    /// r8 to r10 (2, 1, 1).
    pub const HIP104: DensityConfig = DensityConfig {
        resolutions: [
            rc(2, 500, 1000),
            rc(4, 100, 200),
            rc(4, 25, 50),
            rc(4, 5, 10),
            rc(2, 1, 1),
            rc(2, 1, 1),
            rc(2, 1, 1),
        ],
    };

    /// Parameters of resolution `res` (4..=10).
    pub fn at(&self, res: u8) -> Option<&ResConfig> {
        res.checked_sub(MIN_RES)
            .and_then(|i| self.resolutions.get(usize::from(i)))
    }

    /// Checks `target >= 1` and `max >= target` at every resolution (the clipping rule needs
    /// both).
    pub fn validate(&self) -> Result<()> {
        if self
            .resolutions
            .iter()
            .all(|r| r.target >= 1 && r.max >= r.target)
        {
            Ok(())
        } else {
            Err(Error::InvalidParameter(
                "density target must be >= 1 and <= max",
            ))
        }
    }

    /// `limit = min(max, target × max(occupied − N + 1, 1))` at resolution `res`.
    pub fn limit(&self, res: u8, occupied: u64) -> Result<u64> {
        let c = self
            .at(res)
            .ok_or(Error::InvalidParameter("resolution outside 4..=10"))?;
        let factor = occupied.saturating_sub(c.neighbors).saturating_add(1);
        Ok(c.max.min(c.target.saturating_mul(factor)))
    }
}

impl Default for DensityConfig {
    fn default() -> Self {
        Self::HIP104
    }
}

/// The clipped and unclipped counts of the hex containing a hotspot at one resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DensityStep {
    /// H3 resolution (4..=10).
    pub resolution: u8,
    /// Clipped count.
    pub clipped: u64,
    /// Unclipped count.
    pub unclipped: u64,
}

/// The hex scale `Π clipped / unclipped`, exact, rounded once to 4 decimals, ties to even.
///
/// ```
/// use depin_rewards::policy::hex_density::{scale_from_steps, DensityStep};
/// let steps = [
///     DensityStep { resolution: 8, clipped: 1, unclipped: 3 },
///     DensityStep { resolution: 7, clipped: 10, unclipped: 16 },
/// ];
/// assert_eq!(scale_from_steps(&steps).unwrap().to_string(), "0.2083"); // 10/48
/// ```
pub fn scale_from_steps(steps: &[DensityStep]) -> Result<Fixed> {
    let mut num: u128 = 1;
    let mut den: u128 = 1;
    for s in steps {
        if s.unclipped == 0 {
            return Err(Error::DivisionByZero("hex density"));
        }
        if s.clipped > s.unclipped {
            return Err(Error::InvalidParameter(
                "clipped count above unclipped count",
            ));
        }
        num = num
            .checked_mul(u128::from(s.clipped))
            .ok_or(Error::Overflow("hex density"))?;
        den = den
            .checked_mul(u128::from(s.unclipped))
            .ok_or(Error::Overflow("hex density"))?;
        let g = gcd(num, den);
        if g > 1 {
            num /= g;
            den /= g;
        }
    }
    let units = mul_div(num, 10u128.pow(SCALE_DECIMALS), den, Rounding::HalfEven)?;
    Fixed::from_units(units, SCALE_DECIMALS)
}

#[cfg(feature = "h3")]
pub use map::HexDensityMap;

#[cfg(feature = "h3")]
mod map {
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    use h3o::{CellIndex, Resolution};

    use super::{scale_from_steps, DensityConfig, DensityStep, MAX_RES, MIN_RES};
    use crate::fixed::Fixed;
    use crate::{Error, Result};

    /// Clipped and unclipped hotspot counts of every occupied hex at resolutions 4 to 11,
    /// built from the asserted locations of all hotspots (feature `h3`).
    ///
    /// ```
    /// use depin_rewards::policy::hex_density::{DensityConfig, HexDensityMap};
    /// // three hotspots in the same resolution-12 hex
    /// let cell = 631210990515536895u64;
    /// let map = HexDensityMap::build(&[cell, cell, cell], &DensityConfig::HIP104).unwrap();
    /// // r10..r8 clip 3 to 1: scale 1/3, rounded to 4 decimals
    /// assert_eq!(map.scale(cell).unwrap().to_string(), "0.3333");
    /// ```
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct HexDensityMap {
        unclipped: BTreeMap<CellIndex, u64>,
        clipped: BTreeMap<CellIndex, u64>,
    }

    fn res(r: u8) -> Result<Resolution> {
        Resolution::try_from(r).map_err(|_| Error::InvalidParameter("H3 resolution"))
    }

    fn cell(index: u64) -> Result<CellIndex> {
        CellIndex::try_from(index).map_err(|_| Error::InvalidCell)
    }

    impl HexDensityMap {
        /// Counts every asserted hotspot location (H3 cell index at resolution 11 or finer,
        /// one entry per hotspot) and clips resolutions 10 down to 4.
        pub fn build(asserted: &[u64], config: &DensityConfig) -> Result<Self> {
            config.validate()?;
            let r11 = res(11)?;
            let mut unclipped: BTreeMap<CellIndex, u64> = BTreeMap::new();
            for &index in asserted {
                let parent = cell(index)?.parent(r11).ok_or(Error::InvalidCell)?;
                let c = unclipped.entry(parent).or_insert(0);
                *c = c.checked_add(1).ok_or(Error::Overflow("hex count"))?;
            }
            let mut clipped = unclipped.clone();
            let mut level: Vec<CellIndex> = unclipped.keys().copied().collect();
            for r in (MIN_RES..=MAX_RES).rev() {
                let resolution = res(r)?;
                let target = config.at(r).map_or(1, |c| c.target);
                let mut parents: BTreeMap<CellIndex, u64> = BTreeMap::new();
                for child in &level {
                    let p = child.parent(resolution).ok_or(Error::InvalidCell)?;
                    let count = clipped.get(child).copied().unwrap_or(0);
                    let slot = parents.entry(p).or_insert(0);
                    *slot = slot
                        .checked_add(count)
                        .ok_or(Error::Overflow("hex count"))?;
                }
                for (p, count) in &parents {
                    unclipped.insert(*p, *count);
                }
                let mut next = Vec::with_capacity(parents.len());
                for (p, count) in parents.iter() {
                    let occupied = p
                        .grid_disk::<Vec<_>>(1)
                        .into_iter()
                        .filter(|n| parents.get(n).is_some_and(|c| *c >= target))
                        .count() as u64;
                    let limit = config.limit(r, occupied)?;
                    clipped.insert(*p, limit.min(*count));
                    next.push(*p);
                }
                level = next;
            }
            Ok(HexDensityMap { unclipped, clipped })
        }

        /// The per-resolution counts (resolutions 10 down to 4) of the hexes containing the
        /// asserted location `index`.
        pub fn steps(&self, index: u64) -> Result<Vec<DensityStep>> {
            let c = cell(index)?;
            let mut steps = Vec::with_capacity(7);
            for r in (MIN_RES..=MAX_RES).rev() {
                let p = c.parent(res(r)?).ok_or(Error::InvalidCell)?;
                match (self.clipped.get(&p), self.unclipped.get(&p)) {
                    (Some(&clipped), Some(&unclipped)) => steps.push(DensityStep {
                        resolution: r,
                        clipped,
                        unclipped,
                    }),
                    _ => return Err(Error::InvalidCell),
                }
            }
            Ok(steps)
        }

        /// The hex density scale of a hotspot asserted at `index` (must be one of the
        /// locations the map was built from).
        pub fn scale(&self, index: u64) -> Result<Fixed> {
            scale_from_steps(&self.steps(index)?)
        }

        /// Number of distinct occupied hexes over all resolutions (4 to 11).
        pub fn occupied_hexes(&self) -> usize {
            // map keys are distinct cells already
            self.unclipped.len()
        }
    }
}
