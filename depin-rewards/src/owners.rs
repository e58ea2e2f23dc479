//! Rolling device rewards up to owner accounts: several devices, one claimant.
//!
//! Rewards are computed per device, but claims are made per account: an owner of ten hotspots
//! claims once. [`roll_up`] sums per-device amounts into per-owner totals with checked `u128`
//! arithmetic and keeps, for every owner, the list of its devices and what each earned, so an
//! owner can see where its total comes from.
//!
//! * Each device must appear once ([`Error::DuplicateEntry`], with the position of the second
//!   occurrence after sorting by device). Roll up each category (or each distribution)
//!   separately, or sum a device's categories first.
//! * A device without an owner (`owner_of` returns `None`) is not an error: its amount is kept
//!   apart in [`OwnerTotals::unowned`] and is in no owner's total, and the caller decides
//!   (hold it until the device is claimed, burn it, or refuse the epoch with
//!   [`OwnerTotals::require_owned`]). Device ids are generic, so this is reported as a list
//!   rather than inside an error value.
//! * Output is deterministic: owners ascending (`Ord` of the account type), each owner's
//!   devices ascending, whatever the input order.
//!
//! The result feeds the claim trees of [`crate::claims`] ([`OwnerTotals::claims`]) or a
//! cumulative ledger of owners ([`OwnerTotals::credit`], [`OwnerTotals::credits`]).
//!
//! ```
//! use depin_rewards::owners::roll_up;
//! let owner_of = |device: &u32| match *device {
//!     1 | 3 => Some("alice"),
//!     2 => Some("bob"),
//!     _ => None,
//! };
//! let totals = roll_up(vec![(3u32, 30), (1, 10), (2, 20), (9, 5)], owner_of).unwrap();
//! assert_eq!(totals.claims(), vec![("alice", 40), ("bob", 20)]);
//! let alice = totals.get(&"alice").unwrap();
//! assert_eq!(alice.amount(), 40);
//! assert_eq!(alice.devices().iter().map(|p| (p.id, p.amount)).collect::<Vec<_>>(), vec![(1, 10), (3, 30)]);
//! assert_eq!(totals.total(), 60);
//! assert_eq!(totals.unowned_total(), 5); // device 9: nobody's
//! assert!(totals.require_owned().is_err());
//! ```

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::distribution::{Distribution, Payout};
use crate::error::ensure_no_duplicates;
use crate::fixed::serde_u128;
use crate::ledger::CumulativeLedger;
use crate::{Error, Result};

/// One owner's rolled-up amount and the devices it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OwnerTotal<K> {
    #[serde(with = "serde_u128")]
    amount: u128,
    devices: Vec<Payout<K>>,
}

impl<K> OwnerTotal<K> {
    /// Sum of the owner's device amounts (base units).
    pub fn amount(&self) -> u128 {
        self.amount
    }

    /// The owner's devices and what each earned, ascending by device id (devices with a zero
    /// amount included).
    pub fn devices(&self) -> &[Payout<K>] {
        &self.devices
    }
}

/// Per-owner totals of device amounts, with the devices that have no owner kept apart (see
/// the module docs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OwnerTotals<K, A> {
    owners: BTreeMap<A, OwnerTotal<K>>,
    unowned: Vec<Payout<K>>,
    #[serde(with = "serde_u128")]
    total: u128,
    #[serde(with = "serde_u128")]
    unowned_total: u128,
}

/// Sums per-device amounts into per-owner amounts (see the module docs).
///
/// `owner_of` is called once per device, in ascending device order. Errors:
/// [`Error::DuplicateEntry`] if a device appears twice, [`Error::Overflow`] if an owner's
/// total, the sum over all owners or the sum over the unowned devices overflows `u128`.
pub fn roll_up<K, A, I, F>(amounts: I, mut owner_of: F) -> Result<OwnerTotals<K, A>>
where
    K: Ord,
    A: Ord,
    I: IntoIterator<Item = (K, u128)>,
    F: FnMut(&K) -> Option<A>,
{
    let mut entries: Vec<(K, u128)> = amounts.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    ensure_no_duplicates(&entries, |a, b| a.0 == b.0)?;
    let mut owners: BTreeMap<A, OwnerTotal<K>> = BTreeMap::new();
    let mut unowned: Vec<Payout<K>> = Vec::new();
    let (mut total, mut unowned_total): (u128, u128) = (0, 0);
    for (id, amount) in entries {
        match owner_of(&id) {
            Some(owner) => {
                total = total
                    .checked_add(amount)
                    .ok_or(Error::Overflow("owner totals"))?;
                let entry = owners.entry(owner).or_insert_with(|| OwnerTotal {
                    amount: 0,
                    devices: Vec::new(),
                });
                entry.amount = entry
                    .amount
                    .checked_add(amount)
                    .ok_or(Error::Overflow("owner total"))?;
                entry.devices.push(Payout { id, amount });
            }
            None => {
                unowned_total = unowned_total
                    .checked_add(amount)
                    .ok_or(Error::Overflow("unowned total"))?;
                unowned.push(Payout { id, amount });
            }
        }
    }
    Ok(OwnerTotals {
        owners,
        unowned,
        total,
        unowned_total,
    })
}

/// [`roll_up`] of a distribution's payouts (every device of the distribution, zero payouts
/// included).
///
/// ```
/// use depin_rewards::owners::roll_up_distribution;
/// use depin_rewards::{distribute, Mode, Shares};
/// let d = distribute(&Shares::new(vec![("hotspot-a", 1), ("hotspot-b", 1), ("hotspot-c", 2)]).unwrap(), 100, Mode::Floor).unwrap();
/// let totals = roll_up_distribution(&d, |device: &&str| Some(if *device == "hotspot-c" { "bob" } else { "alice" })).unwrap();
/// assert_eq!(totals.claims(), vec![("alice", 50), ("bob", 50)]);
/// ```
pub fn roll_up_distribution<K, A, F>(
    distribution: &Distribution<K>,
    owner_of: F,
) -> Result<OwnerTotals<K, A>>
where
    K: Ord + Clone,
    A: Ord,
    F: FnMut(&K) -> Option<A>,
{
    roll_up(
        distribution
            .payouts()
            .iter()
            .map(|p| (p.id.clone(), p.amount)),
        owner_of,
    )
}

impl<K, A: Ord> OwnerTotals<K, A> {
    /// The rolled-up total of `owner`, if it owns any of the devices.
    pub fn get(&self, owner: &A) -> Option<&OwnerTotal<K>> {
        self.owners.get(owner)
    }

    /// The amount of `owner` (`0` if it owns none of the devices).
    pub fn amount_of(&self, owner: &A) -> u128 {
        self.owners.get(owner).map_or(0, OwnerTotal::amount)
    }

    /// Owners and their totals, ascending by owner.
    pub fn iter(&self) -> impl Iterator<Item = (&A, &OwnerTotal<K>)> + '_ {
        self.owners.iter()
    }

    /// Number of owners.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// `true` if no device has an owner.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// Sum over all owners (the unowned amounts excluded).
    pub fn total(&self) -> u128 {
        self.total
    }

    /// Devices without an owner and their amounts, ascending by device id.
    pub fn unowned(&self) -> &[Payout<K>] {
        &self.unowned
    }

    /// Sum of the unowned devices' amounts.
    pub fn unowned_total(&self) -> u128 {
        self.unowned_total
    }

    /// `self` if every device has an owner, else [`Error::UnownedDevices`] with their number.
    pub fn require_owned(self) -> Result<Self> {
        match self.unowned.len() {
            0 => Ok(self),
            count => Err(Error::UnownedDevices { count }),
        }
    }
}

impl<K, A: Ord + Clone> OwnerTotals<K, A> {
    /// `(owner, amount)` pairs ascending by owner: the claims of one claim tree (owners whose
    /// devices earned nothing included, with `0`).
    pub fn claims(&self) -> Vec<(A, u128)> {
        self.credits().collect()
    }

    /// Iterates `(owner, amount)` ascending by owner, e.g. to credit several categories of
    /// one epoch in a single [`CumulativeLedger::apply`] (which adds repeated owners up):
    /// `ledger.apply(epoch, poc.credits().chain(data.credits()))`.
    pub fn credits(&self) -> impl Iterator<Item = (A, u128)> + '_ {
        self.owners.iter().map(|(a, t)| (a.clone(), t.amount))
    }

    /// Credits every owner's amount to a cumulative ledger of owners for `epoch`
    /// ([`CumulativeLedger::apply`]: atomic, `epoch` after the ledger's last one). The unowned
    /// amounts are not credited.
    ///
    /// ```
    /// use depin_rewards::owners::roll_up;
    /// use depin_rewards::CumulativeLedger;
    /// let owner_of = |device: &u8| Some(if *device < 10 { "alice" } else { "bob" });
    /// let mut ledger = CumulativeLedger::new();
    /// roll_up(vec![(1u8, 5), (2, 7), (11, 1)], owner_of).unwrap().credit(1, &mut ledger).unwrap();
    /// roll_up(vec![(1u8, 1), (11, 1)], owner_of).unwrap().credit(2, &mut ledger).unwrap();
    /// assert_eq!((ledger.total(&"alice"), ledger.total(&"bob")), (13, 2));
    /// ```
    pub fn credit(&self, epoch: u64, ledger: &mut CumulativeLedger<A>) -> Result<()> {
        ledger.apply(epoch, self.credits())
    }
}
