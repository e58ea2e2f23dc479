//! Splitting an epoch's emission into named pools in basis points, and moving the unused part
//! of one pool into others.
//!
//! A [`PoolSplit`] assigns basis points (1 bp = 0.01 %) to named categories; the
//! basis points may sum to less than 10 000, the rest is reported as
//! [`Pools::unassigned`]. Splitting uses the same exact [`Mode`]s as device distribution:
//! with [`Mode::LargestRemainder`] the pools plus the unassigned part add up to the emission
//! exactly (ties by category name, the unassigned part first); with [`Mode::Floor`] rounding
//! dust is added to the unassigned part. Either way `Σ pools + unassigned == emission`.
//!
//! Helium IoT ([`PoolSplit::helium_iot`], `iot_verifier/src/reward_share.rs` in
//! helium/oracles): beacons 6 %, witnesses 24 %, data transfer 50 %, operations 7 %,
//! oracles 7 %; data transfer rewards are capped by the DC actually burned and the unused
//! part goes to proof of coverage, 20 % beacons / 80 % witnesses
//! ([`PoolSplit::helium_iot_unused_data`]).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::distribution::{distribute, Mode, Shares};
use crate::error::ensure_no_duplicates;
use crate::fixed::serde_u128;
use crate::{Error, Result};

/// Basis points in one whole (100 %).
pub const FULL_BPS: u16 = 10_000;

/// One named category and its basis points.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Category {
    /// Category name, e.g. `"witnesses"`.
    pub name: String,
    /// Basis points of the split amount (1 bp = 0.01 %).
    pub bps: u16,
}

/// Named categories with basis points summing to at most 10 000.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoolSplit {
    categories: Vec<Category>,
}

impl PoolSplit {
    /// Builds a split. Errors if there are no categories, a name repeats, or the basis points
    /// sum to more than 10 000.
    ///
    /// ```
    /// use depin_rewards::pools::PoolSplit;
    /// use depin_rewards::Mode;
    /// let split = PoolSplit::new([("a", 3_333), ("b", 6_667)]).unwrap();
    /// let pools = split.split(100, Mode::LargestRemainder).unwrap();
    /// assert_eq!((pools.get("a"), pools.get("b")), (Some(33), Some(67)));
    /// ```
    pub fn new<I, S>(categories: I) -> Result<Self>
    where
        I: IntoIterator<Item = (S, u16)>,
        S: Into<String>,
    {
        let categories: Vec<Category> = categories
            .into_iter()
            .map(|(n, bps)| Category {
                name: n.into(),
                bps,
            })
            .collect();
        let split = PoolSplit { categories };
        split.validate()?;
        Ok(split)
    }

    fn validate(&self) -> Result<()> {
        if self.categories.is_empty() {
            return Err(Error::InvalidParameter("pool split has no categories"));
        }
        let total: u32 = self.categories.iter().map(|c| u32::from(c.bps)).sum();
        if total > u32::from(FULL_BPS) {
            return Err(Error::InvalidParameter("basis points sum above 10000"));
        }
        let mut names: Vec<&str> = self.categories.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        ensure_no_duplicates(&names, |a, b| a == b)
    }

    /// Helium IoT's daily split: beacons 600, witnesses 2 400, data 5 000, operations 700,
    /// oracles 700 basis points (94 %; the other 6 % is not paid by the IoT oracles and is
    /// reported as unassigned).
    pub fn helium_iot() -> Self {
        PoolSplit {
            categories: alloc::vec![
                cat("beacons", 600),
                cat("witnesses", 2_400),
                cat("data", 5_000),
                cat("operations", 700),
                cat("oracles", 700),
            ],
        }
    }

    /// Where Helium IoT moves unused data-transfer rewards: beacons 2 000, witnesses 8 000.
    pub fn helium_iot_unused_data() -> Self {
        PoolSplit {
            categories: alloc::vec![cat("beacons", 2_000), cat("witnesses", 8_000)],
        }
    }

    /// The categories, in construction order.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// Sum of the categories' basis points.
    pub fn total_bps(&self) -> u16 {
        // validated <= 10_000
        self.categories
            .iter()
            .map(|c| c.bps)
            .fold(0u16, u16::saturating_add)
    }

    /// Splits `amount` into the categories (see the module docs for the rounding).
    pub fn split(&self, amount: u128, mode: Mode) -> Result<Pools> {
        self.validate()?;
        let parts = self.parts(amount, mode)?;
        let mut pools = Pools {
            amounts: BTreeMap::new(),
            unassigned: 0,
        };
        for (name, v) in parts {
            match name {
                Some(n) => {
                    pools.amounts.insert(String::from(n), v);
                }
                None => pools.unassigned = v,
            }
        }
        Ok(pools)
    }

    /// `(Some(name) | None for unassigned, amount)` with `Σ == amount`.
    fn parts(&self, amount: u128, mode: Mode) -> Result<Vec<(Option<&str>, u128)>> {
        let unassigned_bps = u128::from(FULL_BPS - self.total_bps());
        let mut entries: Vec<(Option<&str>, u128)> = self
            .categories
            .iter()
            .map(|c| (Some(c.name.as_str()), u128::from(c.bps)))
            .collect();
        entries.push((None, unassigned_bps));
        let d = distribute(&Shares::new(entries)?, amount, mode)?;
        let dust = d.unallocated();
        let mut out: Vec<(Option<&str>, u128)> = d
            .into_payouts()
            .into_iter()
            .map(|p| (p.id, p.amount))
            .collect();
        if let Some(slot) = out.iter_mut().find(|(n, _)| n.is_none()) {
            slot.1 += dust;
        }
        Ok(out)
    }
}

fn cat(name: &str, bps: u16) -> Category {
    Category {
        name: String::from(name),
        bps,
    }
}

/// The amount in each named pool for one epoch, plus the part assigned to no pool.
///
/// Invariant: `Σ amounts + unassigned` equals the split emission, through every
/// redistribution.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pools {
    #[serde(with = "amount_map")]
    amounts: BTreeMap<String, u128>,
    #[serde(with = "serde_u128")]
    unassigned: u128,
}

impl Pools {
    /// Amount in the named pool.
    pub fn get(&self, name: &str) -> Option<u128> {
        self.amounts.get(name).copied()
    }

    /// All pools, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u128)> {
        self.amounts.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Base units assigned to no pool (basis points below 10 000, floor dust).
    pub fn unassigned(&self) -> u128 {
        self.unassigned
    }

    /// `Σ pools + unassigned`.
    pub fn total(&self) -> Result<u128> {
        self.amounts
            .values()
            .try_fold(self.unassigned, |acc, v| acc.checked_add(*v))
            .ok_or(Error::Overflow("pool total"))
    }

    /// Moves `amount` out of pool `from` into the pools of `to` (split by its basis points with
    /// `mode`; rounding dust and basis points below 10 000 go to the unassigned part). Target
    /// pools that do not exist yet are created.
    pub fn redistribute(
        &mut self,
        from: &str,
        amount: u128,
        to: &PoolSplit,
        mode: Mode,
    ) -> Result<()> {
        let available = self.get(from).ok_or(Error::UnknownCategory)?;
        if amount > available {
            return Err(Error::InvalidParameter(
                "redistributing more than the pool holds",
            ));
        }
        to.validate()?;
        let parts = to.parts(amount, mode)?;
        // all checks done: apply
        let mut next = self.clone();
        if let Some(v) = next.amounts.get_mut(from) {
            *v -= amount;
        }
        for (name, v) in parts {
            let slot = match name {
                Some(n) => next.amounts.entry(String::from(n)).or_insert(0),
                None => &mut next.unassigned,
            };
            *slot = slot.checked_add(v).ok_or(Error::Overflow("pool"))?;
        }
        *self = next;
        Ok(())
    }

    /// Moves what pool `from` did not use (`pool − used`, or nothing if `used >= pool`) into
    /// `to`, as Helium does with unused data-transfer rewards. Returns the amount moved.
    ///
    /// ```
    /// use depin_rewards::pools::PoolSplit;
    /// use depin_rewards::Mode;
    /// let mut pools = PoolSplit::helium_iot().split(1_000_000, Mode::LargestRemainder).unwrap();
    /// let moved = pools
    ///     .redistribute_unused("data", 200_000, &PoolSplit::helium_iot_unused_data(), Mode::LargestRemainder)
    ///     .unwrap();
    /// assert_eq!(moved, 300_000);
    /// assert_eq!(pools.get("data"), Some(200_000));
    /// assert_eq!(pools.get("beacons"), Some(60_000 + 60_000));
    /// assert_eq!(pools.get("witnesses"), Some(240_000 + 240_000));
    /// assert_eq!(pools.total().unwrap(), 1_000_000);
    /// ```
    pub fn redistribute_unused(
        &mut self,
        from: &str,
        used: u128,
        to: &PoolSplit,
        mode: Mode,
    ) -> Result<u128> {
        let available = self.get(from).ok_or(Error::UnknownCategory)?;
        let unused = available.saturating_sub(used);
        self.redistribute(from, unused, to, mode)?;
        Ok(unused)
    }
}

/// A complete, serialisable description of how an epoch's pools were derived: emission, split,
/// and every redistribution, in order. [`PoolPlan::compute`] replays it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoolPlan {
    /// Emission of the epoch (from an [`crate::emission::EmissionSchedule`]).
    #[serde(with = "serde_u128")]
    pub emission: u128,
    /// The split of the emission.
    pub split: PoolSplit,
    /// Rounding mode of the split.
    pub mode: Mode,
    /// Redistributions of unused pool parts, applied in order.
    pub redistributions: Vec<Redistribution>,
}

/// One "move the unused part of a pool" step of a [`PoolPlan`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Redistribution {
    /// Source pool.
    pub from: String,
    /// How much of the source pool was used; the rest moves.
    #[serde(with = "serde_u128")]
    pub used: u128,
    /// Where the unused part goes.
    pub to: PoolSplit,
    /// Rounding mode of this move.
    pub mode: Mode,
}

impl PoolPlan {
    /// Replays the plan.
    pub fn compute(&self) -> Result<Pools> {
        let mut pools = self.split.split(self.emission, self.mode)?;
        for r in &self.redistributions {
            pools.redistribute_unused(&r.from, r.used, &r.to, r.mode)?;
        }
        Ok(pools)
    }
}

mod amount_map {
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};

    struct Wrap<'a>(&'a u128);
    impl serde::Serialize for Wrap<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            crate::fixed::serde_u128::serialize(self.0, s)
        }
    }
    struct Unwrap(u128);
    impl<'de> serde::Deserialize<'de> for Unwrap {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            crate::fixed::serde_u128::deserialize(d).map(Unwrap)
        }
    }

    pub(super) fn serialize<S: Serializer>(
        m: &BTreeMap<String, u128>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(m.len()))?;
        for (k, v) in m {
            map.serialize_entry(k, &Wrap(v))?;
        }
        map.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, u128>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BTreeMap<String, u128>;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a map of pool names to amounts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut m = BTreeMap::new();
                while let Some((k, Unwrap(v))) = a.next_entry::<String, Unwrap>()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }
        d.deserialize_map(V)
    }
}
