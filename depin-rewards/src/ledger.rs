//! Cumulative reward ledger across epochs: the basis for cumulative claims.
//!
//! Claim contracts that take a **cumulative** amount (Helium's lazy distributor, Merkle
//! distributors with a "claimed so far" map) pay `cumulative − already_claimed`, so a lost or
//! repeated epoch never double-pays. [`CumulativeLedger`] keeps those totals: each device's
//! total only ever grows, epochs must be applied in strictly increasing order (a replayed
//! epoch is rejected), and an update is applied atomically (all devices or none).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::distribution::Distribution;
use crate::fixed::serde_u128;
use crate::{Error, Result};

/// Per-device cumulative totals.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(bound(
    serialize = "K: serde::Serialize",
    deserialize = "K: serde::Deserialize<'de> + Ord"
))]
pub struct CumulativeLedger<K> {
    totals: BTreeMap<K, Amount>,
    last_epoch: Option<u64>,
    #[serde(with = "serde_u128")]
    grand_total: u128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct Amount(#[serde(with = "serde_u128")] u128);

impl<K: Ord + Clone> Default for CumulativeLedger<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Clone> CumulativeLedger<K> {
    /// An empty ledger.
    pub fn new() -> Self {
        CumulativeLedger {
            totals: BTreeMap::new(),
            last_epoch: None,
            grand_total: 0,
        }
    }

    /// Adds one epoch's payouts. Errors (and changes nothing) if `epoch` is not after the last
    /// applied epoch or a total would overflow.
    ///
    /// ```
    /// use depin_rewards::{distribute, CumulativeLedger, Mode, Shares};
    /// let mut ledger = CumulativeLedger::new();
    /// let d = distribute(&Shares::new(vec![("a", 1), ("b", 3)]).unwrap(), 100, Mode::Floor).unwrap();
    /// ledger.apply_distribution(1, &d).unwrap();
    /// ledger.apply_distribution(2, &d).unwrap();
    /// assert_eq!(ledger.total(&"b"), 150);
    /// assert!(ledger.apply_distribution(2, &d).is_err()); // replay rejected
    /// ```
    pub fn apply_distribution(&mut self, epoch: u64, distribution: &Distribution<K>) -> Result<()> {
        self.apply(
            epoch,
            distribution
                .payouts()
                .iter()
                .map(|p| (p.id.clone(), p.amount)),
        )
    }

    /// Adds one epoch's `(device, amount)` credits (a device may appear several times, e.g.
    /// once per category). Same rules as [`apply_distribution`](Self::apply_distribution).
    pub fn apply<I: IntoIterator<Item = (K, u128)>>(
        &mut self,
        epoch: u64,
        credits: I,
    ) -> Result<()> {
        if let Some(last) = self.last_epoch {
            if epoch <= last {
                return Err(Error::EpochNotIncreasing { epoch, last });
            }
        }
        // stage the new totals first so a failure leaves the ledger untouched
        let mut staged: BTreeMap<K, u128> = BTreeMap::new();
        let mut added: u128 = 0;
        for (id, amount) in credits {
            added = added.checked_add(amount).ok_or(Error::Overflow("ledger"))?;
            let current = match staged.get(&id) {
                Some(v) => *v,
                None => self.total(&id),
            };
            let next = current
                .checked_add(amount)
                .ok_or(Error::Overflow("ledger"))?;
            staged.insert(id, next);
        }
        let grand_total = self
            .grand_total
            .checked_add(added)
            .ok_or(Error::Overflow("ledger"))?;
        for (id, v) in staged {
            self.totals.insert(id, Amount(v));
        }
        self.grand_total = grand_total;
        self.last_epoch = Some(epoch);
        Ok(())
    }

    /// Cumulative total of `id` (`0` if never credited).
    pub fn total(&self, id: &K) -> u128 {
        self.totals.get(id).map_or(0, |a| a.0)
    }

    /// What `id` can still claim given what it already claimed (never negative).
    pub fn claimable(&self, id: &K, already_claimed: u128) -> u128 {
        self.total(id).saturating_sub(already_claimed)
    }

    /// Sum over all devices.
    pub fn grand_total(&self) -> u128 {
        self.grand_total
    }

    /// Last applied epoch.
    pub fn last_epoch(&self) -> Option<u64> {
        self.last_epoch
    }

    /// Number of devices with a total.
    pub fn len(&self) -> usize {
        self.totals.len()
    }

    /// `true` if nothing was ever credited.
    pub fn is_empty(&self) -> bool {
        self.totals.is_empty()
    }

    /// `(device, cumulative total)` pairs in id order: the input of a cumulative claim tree.
    pub fn claims(&self) -> Vec<(K, u128)> {
        self.totals.iter().map(|(k, v)| (k.clone(), v.0)).collect()
    }

    /// Iterates `(device, cumulative total)` in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, u128)> {
        self.totals.iter().map(|(k, v)| (k, v.0))
    }
}
