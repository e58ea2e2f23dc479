//! The oracle's epoch close and claims (feature `oracle`): from the accepted items an
//! oracle store holds for an epoch to a cumulative claim root published on a chain, once,
//! and the proofs wallets claim with.
//!
//! # Closing an epoch
//! [`EpochCloser::close`] runs these steps; each one's result is durable in the
//! [`OracleStore`] before the next begins, so a close that stops anywhere (a crash, a chain
//! that is down) is finished by calling it again with the same closer name:
//!
//! 1. **Freeze** ([`OracleStore::begin_close`]): the epoch's set of accepted items stops
//!    changing. An epoch closed by another closer is [`CloseError::OwnedBy`]; a published
//!    one answers its stored report with [`CloseReport::already`] set.
//! 2. **Compute** (skipped if the result is already stored): the accepted items are
//!    streamed into the network's [`EpochScoring`] tally (so the epoch never has to fit in
//!    memory); its scores split the epoch's emission **exactly** with
//!    [`depin_rewards::distribute`] in [`depin_rewards::Mode::LargestRemainder`] (every
//!    device gets `floor(emission × score / total)`, the units left over go one each to the
//!    largest remainders, ties to the smaller [`DeviceId`] in its `Ord`; the amounts add up
//!    to the emission); each device's amount is credited to its owner account (the
//!    [`EpochCloser::owners`] lookup; a device without an owner earns nothing: its amount is
//!    forfeited and the device is listed in the summary); the owners' credits are added to
//!    the cumulative totals of the previous result's tree, and the new cumulative claim tree
//!    ([`ClaimTree`]) and its root are stored with one receipt per scored device and a
//!    summary ([`OracleStore::put_result`]).
//! 3. **Publish**: nothing to publish for an empty tree (all-zero root). Otherwise the chain
//!    is asked first ([`crate::DistributorBackend::epoch_root`]): our root there means it was published
//!    before a crash kept us from recording it; another root is [`CloseError::ChainConflict`].
//!    Only then is the root published ([`crate::DistributorBackend::publish_root`]); its transaction is
//!    written to the store's metadata before waiting for its receipt, so a close resumed
//!    while that transaction is pending waits for it instead of publishing again. Then the
//!    epoch is marked published ([`OracleStore::mark_published`]).
//!
//! Epochs close in order: a close is refused with [`CloseError::Unfinished`] while the
//! latest epoch whose close has begun is not yet published, and with
//! [`CloseError::OutOfOrder`] for an open epoch before it.
//!
//! # Stored blobs (JSON)
//! - **Claim tree**: the cumulative totals, `[["<account>", "<total>"], ...]` sorted by the
//!   account's text ([`Account`]'s `Display`, read back with `FromStr`), totals in decimal.
//!   The tree is rebuilt from this list in this order.
//! - **Receipt** (one per device with a positive score): [`DeviceReceipt`].
//! - **Summary**: `{"epoch", "emission", "scored_devices", "paid", "paid_devices",
//!   "unowned_devices": [did, ...], "forfeited", "undistributed", "accepted",
//!   "rejected": {reason: count}}`; amounts are decimal strings; `paid` is what owners were
//!   credited (the epoch total), `forfeited` the amounts of devices without an owner,
//!   `undistributed` the part of the emission no device earned (all of it when no device
//!   scored). Networks with pools ([`EpochScoring::payouts`]) add `pools` to receipts.
//!
//! # Calling from async code
//! [`EpochCloser::close`] is synchronous and drives the backend's async calls with
//! [`tokio::runtime::Handle::block_on`], which panics on a runtime thread: call it from a
//! plain thread or inside [`tokio::task::spawn_blocking`].
//!
//! [`api`] serves claims and per-device explanations over HTTP.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use depin_attest::store::{
    CloseStart, DeviceEpoch, EpochResult, EpochRow, EpochStatus, LoggedItem, OracleStore,
    StoreError, StoreResult, StoredVerdict,
};
use depin_attest::{Outcome, Rejection};
use depin_core::{DeviceId, Epoch, Timestamp, TrustLevel};
use depin_rewards::policy::trust::DeviceTrustPolicy;
use depin_rewards::{distribute, Mode, Shares};
use serde::{Deserialize, Serialize};

use crate::backend::ChainBackend;
use crate::claims::ClaimTree;
use crate::types::{Account, Claim, ClaimFormat, EpochRoot, PublishOutcome, TxHandle, TxStatus};

pub mod api;
pub mod quorum;
#[cfg(feature = "service")]
pub mod service;

#[cfg(feature = "service")]
pub use quorum::HttpVotes;
pub use quorum::{OracleQuorum, StoreVotes, VoteSource};

/// Rows read per page when looking for the result before an epoch.
const PAGE: usize = 500;

/// The metadata key under which a close records the transaction publishing `epoch`'s root
/// before it waits for its receipt.
fn publish_tx_key(epoch: Epoch) -> String {
    format!("oracle.publish_tx.{}", epoch.0)
}

/// A network's reward rules for one epoch, applied to the epoch's accepted items as a
/// stream (an epoch of ten million items is never held in memory).
pub trait EpochScoring: Send + Sync {
    /// What the rules accumulate while the items stream by (per-device counters, ...).
    type Tally: Default + Send;

    /// Add one accepted item to the tally. Items come in the order of
    /// [`OracleStore::for_each_accepted`] (device text, format, sequence number).
    fn tally(&self, tally: &mut Self::Tally, item: &LoggedItem);

    /// The epoch's scores: non-negative integers per device. Devices with score 0 earn
    /// nothing and get no receipt; a device listed twice has its scores added.
    fn scores(&self, epoch: Epoch, tally: Self::Tally) -> Vec<(DeviceId, u128)>;

    /// The tokens (base units) split over the epoch's scores.
    fn emission(&self, epoch: Epoch) -> u128;

    /// How many epochs before the closed one the rules look back at (default 0): for rules
    /// that depend on history, such as paying a map tile by the days since it was last
    /// refreshed. The closer streams the accepted items of epochs
    /// `epoch - history_epochs() .. epoch` (oldest first, epochs before 0 skipped) into
    /// [`EpochScoring::tally_history`] before the closed epoch's items go to
    /// [`EpochScoring::tally`]. Those epochs are closed, so their items no longer change:
    /// the result stays a function of the stored items, and a recompute or a resumed close
    /// gives the same payouts.
    fn history_epochs(&self) -> u64 {
        0
    }

    /// Add one accepted item of an earlier epoch (`item.epoch`; see
    /// [`EpochScoring::history_epochs`]) to the tally. The default ignores it.
    fn tally_history(&self, tally: &mut Self::Tally, item: &LoggedItem) {
        let _ = (tally, item);
    }

    /// The epoch's payouts. The default splits [`EpochScoring::emission`] over
    /// [`EpochScoring::scores`] exactly ([`default_payouts`]), as one pool named
    /// [`DEFAULT_POOL`].
    ///
    /// A network with its own reward math (several pools, evidence rules, redistributions
    /// of unused pools) overrides this and returns what each device earns in each pool,
    /// computed with `depin_rewards`. The closer checks the result before anything is
    /// stored: amounts may add up to at most [`EpochPayouts::emission`], and a device may
    /// appear at most once per pool ([`CloseError::Payouts`] otherwise).
    fn payouts(
        &self,
        epoch: Epoch,
        tally: Self::Tally,
    ) -> Result<EpochPayouts, depin_rewards::Error> {
        default_payouts(self.emission(epoch), self.scores(epoch, tally))
    }
}

/// The pool name of the default payouts (receipts of single-pool networks list no pools).
pub const DEFAULT_POOL: &str = "rewards";

/// One device's payout in one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutLine {
    /// The device.
    pub device: DeviceId,
    /// The pool (a network's category name, such as `"poc"` or `"solar"`).
    pub pool: String,
    /// The device's score in the pool, as the network writes it (an integer, or a
    /// fixed-point decimal): shown in the receipt, not used in any sum.
    pub score: String,
    /// Base units the device earned in the pool.
    pub amount: u128,
}

/// An epoch's rewards as the network computed them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochPayouts {
    /// The tokens the epoch emits (base units); the lines add up to at most this, the rest
    /// is reported as undistributed.
    pub emission: u128,
    /// Per device and pool; lines with amount 0 are kept in the receipts.
    pub lines: Vec<PayoutLine>,
    /// Accepted items the rules refused at close, one entry per item (device, reason):
    /// for rules that decide only once the epoch's items are all in, such as choosing
    /// among the witnesses of a beacon ([`depin_attest::coverage::CoverageRules`] with
    /// selection at close). They are counted in the epoch's rejections and in the device's
    /// explanations ([`depin_attest::store::OracleStore::device_epochs`]), and not in its
    /// accepted count. At most as many as the epoch's accepted items
    /// ([`CloseError::Payouts`] otherwise).
    pub rejected: Vec<(DeviceId, Rejection)>,
}

/// The default payouts: `emission` split exactly over `scores` (devices with score 0
/// dropped, a device listed twice has its scores added) with [`depin_rewards::distribute`]
/// in [`Mode::LargestRemainder`], in the pool [`DEFAULT_POOL`].
pub fn default_payouts(
    emission: u128,
    scores: Vec<(DeviceId, u128)>,
) -> Result<EpochPayouts, depin_rewards::Error> {
    let scores: Vec<(DeviceId, u128)> = scores.into_iter().filter(|(_, s)| *s > 0).collect();
    let mut lines = Vec::with_capacity(scores.len());
    if !scores.is_empty() {
        let shares = Shares::summed(scores)?;
        let distribution = distribute(&shares, emission, Mode::LargestRemainder)?;
        for payout in distribution.payouts() {
            let score = shares.get(&payout.id).unwrap_or(0);
            lines.push(PayoutLine {
                device: payout.id,
                pool: DEFAULT_POOL.to_string(),
                score: score.to_string(),
                amount: payout.amount,
            });
        }
    }
    Ok(EpochPayouts {
        emission,
        lines,
        rejected: Vec::new(),
    })
}

/// Built-in scoring: a device's score is the sum of its accepted items' units, with a fixed
/// emission per epoch. An item's units ([`UnitsScoring::units`]):
///
/// | accepted outcome | units |
/// | --- | --- |
/// | [`Outcome::Energy`] `{ wh }` | `wh` |
/// | [`Outcome::Credited`] `{ units, .. }` | `units` (whatever the policy) |
/// | any other accepted outcome | 1 |
///
/// Refused items count nothing. Sums saturate at `u128::MAX` (unreachable with `u64`
/// units per item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitsScoring {
    emission: u128,
}

impl UnitsScoring {
    /// Scoring that splits `emission_per_epoch` base units every epoch.
    pub fn new(emission_per_epoch: u128) -> Self {
        UnitsScoring {
            emission: emission_per_epoch,
        }
    }

    /// The units one accepted outcome scores (see the table on [`UnitsScoring`]).
    pub fn units(outcome: &Outcome) -> u128 {
        match outcome {
            Outcome::Energy { wh } => u128::from(*wh),
            Outcome::Credited { units, .. } => u128::from(*units),
            _ => 1,
        }
    }
}

impl EpochScoring for UnitsScoring {
    type Tally = BTreeMap<DeviceId, u128>;

    fn tally(&self, tally: &mut Self::Tally, item: &LoggedItem) {
        if let StoredVerdict::Accepted(outcome) = &item.verdict {
            let slot = tally.entry(item.device).or_insert(0);
            *slot = slot.saturating_add(Self::units(outcome));
        }
    }

    fn scores(&self, _epoch: Epoch, tally: Self::Tally) -> Vec<(DeviceId, u128)> {
        tally.into_iter().collect()
    }

    fn emission(&self, _epoch: Epoch) -> u128 {
        self.emission
    }
}

/// Built-in scoring with pools by attestation kind: each pool gets its basis points of the
/// epoch's emission (split exactly with [`depin_rewards::pools::PoolSplit`], largest
/// remainder) and is paid over its devices' units ([`UnitsScoring::units`]) of the accepted
/// items of its kinds, with [`default_payouts`]. A pool with no kinds takes every kind no
/// other pool lists (at most one such pool); without one, items of a kind no pool lists
/// count nothing. Basis points below 10 000 in all, and a pool nobody scored in, are
/// reported as undistributed. One pool named [`DEFAULT_POOL`] with all 10 000 basis points
/// and no kinds pays exactly what [`UnitsScoring`] pays, with the same receipts. For a network whose pools are "what kind of work" (coverage and data,
/// production and charging) and whose score is the units its policies credit.
///
/// ```
/// use depin_attest::AttestationKind;
/// use depin_chains::oracle::KindPools;
///
/// let scoring = KindPools::new(
///     60_000,
///     [
///         ("solar", 6_000, vec![AttestationKind::ENERGY_READING]),
///         ("charging", 4_000, vec![AttestationKind::CHARGING_SESSION]),
///     ],
/// )?;
/// assert_eq!(scoring.pools().len(), 2);
/// # Ok::<(), depin_rewards::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KindPools {
    emission: u128,
    split: depin_rewards::pools::PoolSplit,
    pools: Vec<(String, Vec<depin_attest::AttestationKind>)>,
}

impl KindPools {
    /// Pools `(name, basis points, kinds)` splitting `emission_per_epoch` base units every
    /// epoch. [`depin_rewards::Error::InvalidParameter`] for basis points above 10 000 in
    /// all, a repeated pool name, a kind listed in two pools, or two pools without kinds.
    pub fn new<S: Into<String>>(
        emission_per_epoch: u128,
        pools: impl IntoIterator<Item = (S, u16, Vec<depin_attest::AttestationKind>)>,
    ) -> Result<Self, depin_rewards::Error> {
        let mut names = Vec::new();
        let mut listed: Vec<(String, Vec<depin_attest::AttestationKind>)> = Vec::new();
        for (name, bps, kinds) in pools {
            let name = name.into();
            if kinds
                .iter()
                .any(|k| listed.iter().any(|(_, ks)| ks.contains(k)))
            {
                return Err(depin_rewards::Error::InvalidParameter(
                    "an attestation kind is listed in two pools",
                ));
            }
            if kinds.is_empty() && listed.iter().any(|(_, ks)| ks.is_empty()) {
                return Err(depin_rewards::Error::InvalidParameter(
                    "two pools without kinds (at most one pool takes the unlisted kinds)",
                ));
            }
            names.push((name.clone(), bps));
            listed.push((name, kinds));
        }
        let split = depin_rewards::pools::PoolSplit::new(names)?;
        Ok(KindPools {
            emission: emission_per_epoch,
            split,
            pools: listed,
        })
    }

    /// The pools' names and kinds, in construction order.
    pub fn pools(&self) -> &[(String, Vec<depin_attest::AttestationKind>)] {
        &self.pools
    }

    fn pool_of(&self, kind: depin_attest::AttestationKind) -> Option<usize> {
        self.pools
            .iter()
            .position(|(_, kinds)| kinds.contains(&kind))
            .or_else(|| self.pools.iter().position(|(_, kinds)| kinds.is_empty()))
    }
}

impl EpochScoring for KindPools {
    /// Per pool (in construction order), units per device.
    type Tally = Vec<BTreeMap<DeviceId, u128>>;

    fn tally(&self, tally: &mut Self::Tally, item: &LoggedItem) {
        let StoredVerdict::Accepted(outcome) = &item.verdict else {
            return;
        };
        let Some(pool) = self.pool_of(item.kind) else {
            return;
        };
        if tally.len() < self.pools.len() {
            tally.resize_with(self.pools.len(), BTreeMap::new);
        }
        if let Some(units) = tally.get_mut(pool) {
            let slot = units.entry(item.device).or_insert(0);
            *slot = slot.saturating_add(UnitsScoring::units(outcome));
        }
    }

    fn scores(&self, _epoch: Epoch, tally: Self::Tally) -> Vec<(DeviceId, u128)> {
        tally.into_iter().flatten().collect()
    }

    fn emission(&self, _epoch: Epoch) -> u128 {
        self.emission
    }

    fn payouts(
        &self,
        _epoch: Epoch,
        mut tally: Self::Tally,
    ) -> Result<EpochPayouts, depin_rewards::Error> {
        let amounts = self.split.split(self.emission, Mode::LargestRemainder)?;
        tally.resize_with(self.pools.len(), BTreeMap::new);
        let mut lines = Vec::new();
        for ((name, _), units) in self.pools.iter().zip(tally) {
            let amount = amounts.get(name).unwrap_or(0);
            for mut line in default_payouts(amount, units.into_iter().collect())?.lines {
                line.pool = name.clone();
                lines.push(line);
            }
        }
        Ok(EpochPayouts {
            emission: self.emission,
            lines,
            rejected: Vec::new(),
        })
    }
}

/// Rules priced by device trust: `inner`'s score of each device times the
/// [`DeviceTrustPolicy`] multiplier of the device's trust level, the products (rounded down)
/// split over the epoch's emission with [`default_payouts`]. A device's level is the lowest
/// [`LoggedItem::trust`] among its accepted items of the epoch, the level the verifier read
/// from the registry when it accepted them (so the payouts stay a function of the stored
/// items, whatever the registry says later). With [`DeviceTrustPolicy::v1`], devices that
/// registered themselves earn nothing, makers' devices three quarters of their score and
/// devices with hardware evidence all of it; the shares trust takes away go to the other
/// devices.
///
/// For rules written as scores ([`EpochScoring::scores`], as [`UnitsScoring`] is): the
/// inner rules' own [`EpochScoring::payouts`] is not called. A network with its own reward
/// math applies the policy in it, as a factor (`depin_rewards::Evidence::DeviceTrust`),
/// reading [`LoggedItem::trust`] the same way.
///
/// ```
/// use depin_chains::oracle::{TrustWeighted, UnitsScoring};
/// use depin_rewards::policy::trust::DeviceTrustPolicy;
///
/// let scoring = TrustWeighted::new(UnitsScoring::new(1_000_000), DeviceTrustPolicy::v1())?;
/// assert_eq!(scoring.policy().version, 1);
/// # Ok::<(), depin_rewards::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TrustWeighted<S> {
    inner: S,
    policy: DeviceTrustPolicy,
}

impl<S: EpochScoring> TrustWeighted<S> {
    /// `inner`'s rules priced by `policy` ([`depin_rewards::Error::InvalidParameter`] if the
    /// policy does not validate).
    pub fn new(inner: S, policy: DeviceTrustPolicy) -> Result<Self, depin_rewards::Error> {
        policy.validate()?;
        Ok(TrustWeighted { inner, policy })
    }

    /// The trust policy.
    pub fn policy(&self) -> &DeviceTrustPolicy {
        &self.policy
    }

    /// The rules it prices.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// `score` times the multiplier of `level`, rounded down.
    fn weigh(&self, level: TrustLevel, score: u128) -> Result<u128, depin_rewards::Error> {
        self.policy
            .multiplier(level.as_str())?
            .apply_to(score, depin_rewards::Rounding::Floor)
    }

    /// Each device's inner score with its lowest trust level (untrusted if none was seen).
    fn levelled(
        &self,
        epoch: Epoch,
        (tally, trust): <Self as EpochScoring>::Tally,
    ) -> Vec<(DeviceId, TrustLevel, u128)> {
        self.inner
            .scores(epoch, tally)
            .into_iter()
            .map(|(device, score)| {
                let level = trust.get(&device).copied().unwrap_or_default();
                (device, level, score)
            })
            .collect()
    }
}

impl<S: EpochScoring> EpochScoring for TrustWeighted<S> {
    /// The inner rules' tally, and each device's lowest trust level among its accepted
    /// items.
    type Tally = (S::Tally, BTreeMap<DeviceId, TrustLevel>);

    fn tally(&self, tally: &mut Self::Tally, item: &LoggedItem) {
        self.inner.tally(&mut tally.0, item);
        if item.verdict.is_accepted() {
            tally
                .1
                .entry(item.device)
                .and_modify(|l| *l = (*l).min(item.trust))
                .or_insert(item.trust);
        }
    }

    /// The weighted scores; a device whose product cannot be computed (a score near
    /// `u128::MAX`) scores 0 here, and [`EpochScoring::payouts`] fails instead.
    fn scores(&self, epoch: Epoch, tally: Self::Tally) -> Vec<(DeviceId, u128)> {
        self.levelled(epoch, tally)
            .into_iter()
            .map(|(device, level, score)| (device, self.weigh(level, score).unwrap_or(0)))
            .collect()
    }

    fn emission(&self, epoch: Epoch) -> u128 {
        self.inner.emission(epoch)
    }

    fn history_epochs(&self) -> u64 {
        self.inner.history_epochs()
    }

    fn tally_history(&self, tally: &mut Self::Tally, item: &LoggedItem) {
        self.inner.tally_history(&mut tally.0, item);
    }

    fn payouts(
        &self,
        epoch: Epoch,
        tally: Self::Tally,
    ) -> Result<EpochPayouts, depin_rewards::Error> {
        let mut scores = Vec::new();
        for (device, level, score) in self.levelled(epoch, tally) {
            scores.push((device, self.weigh(level, score)?));
        }
        default_payouts(self.emission(epoch), scores)
    }
}

/// Who owns a device: the account its rewards are credited to (`None`: no owner, the device
/// earns nothing).
pub type OwnerLookup = Arc<dyn Fn(&DeviceId) -> Option<Account> + Send + Sync>;

/// One device's receipt for one epoch, as stored (JSON) for every device with a positive
/// score. Amounts and scores are decimal strings (`u128`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceReceipt {
    /// The epoch number.
    pub epoch: u64,
    /// The device (did:key text).
    pub device: String,
    /// The owner account credited (`null`: the device had no owner and earned nothing).
    pub owner: Option<String>,
    /// The device's score.
    pub score: String,
    /// Base units credited to the owner for this device.
    pub amount: String,
    /// The device's share of the emission that was not paid because it has no owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forfeited: Option<String>,
    /// Per pool, for networks with their own pools ([`EpochScoring::payouts`]); empty (and
    /// left out of the JSON) when the device earned only in [`DEFAULT_POOL`]. `score` is
    /// then the pools' scores joined with `+`, and `amount` their sum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<ReceiptPool>,
}

/// One pool's line of a [`DeviceReceipt`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptPool {
    /// The pool.
    pub pool: String,
    /// The device's score in it.
    pub score: String,
    /// Base units earned in it (decimal).
    pub amount: String,
}

/// A device's payouts over all pools, as its receipt shows them.
struct DevicePayout {
    device: DeviceId,
    score: String,
    amount: u128,
    pools: Vec<ReceiptPool>,
}

/// Check a network's payout lines (at most `emission` in all, a device once per pool) and
/// group them per device, in device order.
fn group_payouts(lines: Vec<PayoutLine>, emission: u128) -> Result<Vec<DevicePayout>, CloseError> {
    let mut total: u128 = 0;
    let mut by_device: BTreeMap<DeviceId, Vec<PayoutLine>> = BTreeMap::new();
    for line in lines {
        total = total
            .checked_add(line.amount)
            .ok_or_else(|| CloseError::Payouts("the payouts overflow u128".into()))?;
        let slot = by_device.entry(line.device).or_default();
        if slot.iter().any(|l| l.pool == line.pool) {
            return Err(CloseError::Payouts(format!(
                "{} is listed twice in pool {:?}",
                line.device, line.pool
            )));
        }
        slot.push(line);
    }
    if total > emission {
        return Err(CloseError::Payouts(format!(
            "the payouts add up to {total}, more than the epoch's emission {emission}"
        )));
    }
    let mut out = Vec::with_capacity(by_device.len());
    for (device, mut lines) in by_device {
        lines.sort_by(|a, b| a.pool.cmp(&b.pool));
        let amount = lines.iter().map(|l| l.amount).sum::<u128>();
        let only_default = lines.len() == 1 && lines[0].pool == DEFAULT_POOL;
        if only_default {
            let line = lines.remove(0);
            out.push(DevicePayout {
                device,
                score: line.score,
                amount,
                pools: Vec::new(),
            });
        } else {
            let score = lines
                .iter()
                .map(|l| l.score.as_str())
                .collect::<Vec<_>>()
                .join("+");
            let pools = lines
                .into_iter()
                .map(|l| ReceiptPool {
                    pool: l.pool,
                    score: l.score,
                    amount: l.amount.to_string(),
                })
                .collect();
            out.push(DevicePayout {
                device,
                score,
                amount,
                pools,
            });
        }
    }
    Ok(out)
}

/// Count the items refused at close per (device, reason), sorted; refused if they are
/// more than the `accepted` items.
fn group_close_rejections(
    refused: Vec<(DeviceId, Rejection)>,
    accepted: u64,
) -> Result<Vec<(DeviceId, Rejection, u64)>, CloseError> {
    if u64::try_from(refused.len()).map_or(true, |n| n > accepted) {
        return Err(CloseError::Payouts(format!(
            "{} items refused at close, but only {accepted} were accepted",
            refused.len()
        )));
    }
    let mut counts: BTreeMap<(DeviceId, Rejection), u64> = BTreeMap::new();
    for key in refused {
        *counts.entry(key).or_insert(0) += 1;
    }
    Ok(counts.into_iter().map(|((d, r), n)| (d, r, n)).collect())
}

/// The epoch summary blob.
#[derive(Debug, Serialize, Deserialize)]
struct Summary {
    epoch: u64,
    emission: String,
    scored_devices: u64,
    paid: String,
    paid_devices: u64,
    unowned_devices: Vec<String>,
    forfeited: String,
    undistributed: String,
    accepted: u64,
    /// By reason: the ingest counts and those refused at close together.
    rejected: BTreeMap<String, u64>,
    /// Accepted items the rules refused at close.
    #[serde(default)]
    rejected_at_close: u64,
}

/// What [`EpochCloser::close`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReport {
    /// The epoch.
    pub epoch: Epoch,
    /// The cumulative claim tree's root (all zero if nobody has earned anything yet).
    pub root: [u8; 32],
    /// Credited to owners in this epoch, base units.
    pub epoch_total: u128,
    /// The cumulative total of the tree (published as [`EpochRoot::total`]).
    pub cumulative_total: u128,
    /// Accepted items counted.
    pub accepted: u64,
    /// Devices whose owner was credited a positive amount.
    pub devices_paid: u64,
    /// The publishing transaction (`None` if nothing needed publishing, or if the root was
    /// found on the chain after a crash lost the transaction's hash).
    pub published_tx: Option<String>,
    /// The epoch was already published before this call (nothing was done).
    pub already: bool,
    /// How long the call took.
    pub duration: Duration,
}

/// Why an epoch close (or a claim lookup) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The oracle store failed ([`StoreError::Unavailable`]: retry later).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The chain failed (a retryable transport error: call again later).
    #[error("chain: {0}")]
    Chain(#[from] crate::Error),
    /// The reward split failed (a total that overflows `u128`).
    #[error("rewards: {0}")]
    Rewards(#[from] depin_rewards::Error),
    /// Another closer is closing the epoch.
    #[error("the epoch is being closed by {0:?}")]
    OwnedBy(String),
    /// The chain has another root (or total) for the epoch than the one computed: nothing
    /// was published. Investigate before anything else (another oracle, changed rules).
    #[error(
        "{epoch} has another root on the chain: ours {}, the chain's {}",
        hex::encode(ours),
        hex::encode(theirs)
    )]
    ChainConflict {
        /// The epoch.
        epoch: Epoch,
        /// The root computed here.
        ours: [u8; 32],
        /// The root on the chain.
        theirs: [u8; 32],
    },
    /// An earlier epoch's close has begun and is not finished (not yet published): finish
    /// it (close it again) first.
    #[error("the close of {epoch} is not finished: close it before a later epoch")]
    Unfinished {
        /// The unfinished epoch.
        epoch: Epoch,
    },
    /// The epoch is still open but a later epoch's close has begun: it can no longer be
    /// closed (its items would be missing from the later cumulative trees).
    #[error("{epoch} is open but the close of {closed_through} has begun")]
    OutOfOrder {
        /// The epoch asked for.
        epoch: Epoch,
        /// The highest epoch whose close has begun.
        closed_through: Epoch,
    },
    /// The network's [`EpochScoring::payouts`] are not a valid split: more than the
    /// emission, or a device twice in one pool. Nothing was stored.
    #[error("the network's payouts are invalid: {0}")]
    Payouts(String),
    /// Stored data is inconsistent (a result without its tree, a tree that does not match
    /// its root, a blob that does not decode).
    #[error("oracle data corrupt: {0}")]
    Corrupt(String),
    /// Publishing through a quorum ([`EpochCloser::quorum`]): fewer than the threshold of
    /// the oracles' votes agree yet (the others have not closed, or cannot be reached).
    /// Nothing was published; close again later.
    #[error("{epoch}: {votes} votes gathered, no statement has the {needed} a quorum needs yet")]
    QuorumPending {
        /// The epoch.
        epoch: Epoch,
        /// Valid votes gathered, this oracle's included.
        votes: usize,
        /// The threshold.
        needed: usize,
    },
    /// Publishing through a quorum: a quorum of the oracles agreed on another root than this
    /// oracle computed. It publishes nothing (the majority does) and keeps every vote for
    /// audit ([`quorum::stored_votes`]); compare its inputs with the others'.
    #[error(
        "{epoch}: this oracle is in dissent: ours {}, the quorum's {}",
        hex::encode(ours),
        hex::encode(agreed)
    )]
    Dissent {
        /// The epoch.
        epoch: Epoch,
        /// The root computed here.
        ours: [u8; 32],
        /// The root the quorum signed.
        agreed: [u8; 32],
    },
}

fn corrupt(message: impl Into<String>) -> CloseError {
    CloseError::Corrupt(message.into())
}

fn overflow(what: &str) -> CloseError {
    CloseError::Rewards(depin_rewards::Error::Overflow(match what {
        "credits" => "oracle credits",
        "cumulative" => "oracle cumulative totals",
        _ => "oracle amounts",
    }))
}

/// An account in canonical form (EVM by its bytes, Cosmos validated and lowercase), so
/// equal accounts are equal values and their text round-trips.
fn canonical(account: &Account) -> Result<Account, crate::Error> {
    account.to_string().parse()
}

/// A computed epoch, before it is stored.
struct Computation {
    result: EpochResult,
    devices_paid: u64,
}

/// Closes epochs: scores, splits, builds the cumulative claim tree and publishes its root
/// (see the [module documentation](self)).
pub struct EpochCloser<C: EpochScoring> {
    scoring: C,
    backend: Arc<dyn ChainBackend>,
    format: ClaimFormat,
    closer: String,
    owners: OwnerLookup,
    quorum: Option<OracleQuorum>,
}

impl<C: EpochScoring> fmt::Debug for EpochCloser<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochCloser")
            .field("closer", &self.closer)
            .field("format", &self.format)
            .field("backend", &self.backend.kind())
            .finish_non_exhaustive()
    }
}

impl<C: EpochScoring> EpochCloser<C> {
    /// A closer applying `scoring`, publishing on `backend` (a handle acting as the
    /// network's oracle account) claim trees in `format` (the backend's
    /// [`crate::DistributorBackend::claim_format`]), under the name `closer` (the store's
    /// [`OracleStore::begin_close`] owner: resume a close under the same name).
    ///
    /// No device has an owner until [`EpochCloser::owners`] is set: without it every
    /// device's amount is forfeited.
    pub fn new(
        scoring: C,
        backend: Arc<dyn ChainBackend>,
        format: ClaimFormat,
        closer: impl Into<String>,
    ) -> Self {
        EpochCloser {
            scoring,
            backend,
            format,
            closer: closer.into(),
            owners: Arc::new(|_: &DeviceId| -> Option<Account> { None }),
            quorum: None,
        }
    }

    /// Publish through a quorum of oracles instead of alone (see [`quorum`]): sign this
    /// oracle's vote, gather the others', and submit the agreed quorum with
    /// [`crate::DistributorBackend::publish_quorum_root`] (the handle may then be any
    /// account: the signatures are the authority). Without enough agreeing votes a close
    /// ends in [`CloseError::QuorumPending`] (close again later), and an oracle outvoted
    /// ends in [`CloseError::Dissent`].
    #[must_use]
    pub fn quorum(mut self, quorum: OracleQuorum) -> Self {
        self.quorum = Some(quorum);
        self
    }

    /// Set the owner lookup: the account each device's rewards are credited to. A device
    /// it answers `None` for earns nothing (its amount is forfeited, not given to others)
    /// and is listed in the epoch summary's `unowned_devices`. It is called once per scored
    /// device per computation, synchronously: give it a snapshot (a map of the chain's
    /// registrations, for example from the chain-following registry), not a chain call.
    #[must_use]
    pub fn owners(
        mut self,
        lookup: impl Fn(&DeviceId) -> Option<Account> + Send + Sync + 'static,
    ) -> Self {
        self.owners = Arc::new(lookup);
        self
    }

    /// The scoring rules.
    pub fn scoring(&self) -> &C {
        &self.scoring
    }

    /// The claim tree format.
    pub fn format(&self) -> ClaimFormat {
        self.format
    }

    /// The closer's name.
    pub fn closer(&self) -> &str {
        &self.closer
    }

    /// Close `epoch` at `now`: freeze, compute, publish (see the
    /// [module documentation](self)). Idempotent and resumable: calling it again after any
    /// failure finishes the close without publishing twice; calling it on a published epoch
    /// returns its report with [`CloseReport::already`] set.
    ///
    /// `rt` drives the backend's async calls ([`tokio::runtime::Handle::block_on`]): do not
    /// call this on a runtime thread.
    pub fn close(
        &self,
        store: &mut dyn OracleStore,
        epoch: Epoch,
        now: Timestamp,
        rt: &tokio::runtime::Handle,
    ) -> Result<CloseReport, CloseError> {
        let started = Instant::now();
        let chain_format = self.backend.claim_format();
        if chain_format != self.format {
            return Err(crate::Error::Config(format!(
                "the closer builds {:?} claim trees but the chain verifies {chain_format:?}",
                self.format
            ))
            .into());
        }
        check_order(store, epoch)?;
        let mut devices_paid = None;
        match store.begin_close(epoch, &self.closer, now)? {
            CloseStart::Started => {
                let computed = self.compute(store, epoch)?;
                store.put_result(epoch, &computed.result)?;
                devices_paid = Some(computed.devices_paid);
            }
            CloseStart::Already(EpochStatus::Computed) => {}
            CloseStart::Already(EpochStatus::Published) => {
                let row = stored_row(store, epoch)?;
                return report(&row, true, None, started);
            }
            CloseStart::Already(status @ (EpochStatus::Open | EpochStatus::Closing)) => {
                return Err(corrupt(format!(
                    "the store answered the close of {epoch} with status {}",
                    status.as_str()
                )));
            }
            CloseStart::OwnedBy(owner) => return Err(CloseError::OwnedBy(owner)),
        }
        let mut row = stored_row(store, epoch)?;
        let root = row
            .root
            .ok_or_else(|| corrupt(format!("{epoch} is computed but has no root")))?;
        let total = row
            .cumulative_total
            .ok_or_else(|| corrupt(format!("{epoch} is computed but has no total")))?;
        let tx = self.publish(store, epoch, root, total, rt)?;
        store.mark_published(epoch, tx.as_deref())?;
        row.status = EpochStatus::Published;
        row.publish_tx = tx;
        report(&row, false, devices_paid, started)
    }

    /// Compute `epoch`'s result from the store exactly as [`EpochCloser::close`] does (the
    /// same code), writing nothing: to compare with the stored or published root. The epoch
    /// should be frozen (closing or later), or its accepted items may still change.
    pub fn recompute(
        &self,
        store: &mut dyn OracleStore,
        epoch: Epoch,
    ) -> Result<EpochResult, CloseError> {
        self.compute(store, epoch).map(|c| c.result)
    }

    /// The one computation of an epoch's result.
    fn compute(
        &self,
        store: &mut dyn OracleStore,
        epoch: Epoch,
    ) -> Result<Computation, CloseError> {
        // 1. stream the history the rules look back at, then the epoch's accepted items,
        //    into the tally
        let mut tally = C::Tally::default();
        let back = self.scoring.history_epochs();
        for earlier in epoch.0.saturating_sub(back)..epoch.0 {
            store.for_each_accepted(
                Epoch(earlier),
                &mut |item: LoggedItem| -> StoreResult<()> {
                    self.scoring.tally_history(&mut tally, &item);
                    Ok(())
                },
            )?;
        }
        let mut accepted: u64 = 0;
        store.for_each_accepted(epoch, &mut |item: LoggedItem| -> StoreResult<()> {
            self.scoring.tally(&mut tally, &item);
            accepted = accepted.saturating_add(1);
            Ok(())
        })?;

        // 2. the network's payouts, checked
        let EpochPayouts {
            emission,
            lines,
            rejected: refused_at_close,
        } = self.scoring.payouts(epoch, tally)?;
        let split = group_payouts(lines, emission)?;
        let close_rejections = group_close_rejections(refused_at_close, accepted)?;
        let refused_now: u64 = close_rejections.iter().map(|r| r.2).sum();
        let accepted = accepted - refused_now;
        // group_payouts checked that the amounts add up to at most the emission
        let undistributed = emission.saturating_sub(split.iter().map(|d| d.amount).sum::<u128>());

        // 3. owners, credits and receipts
        let mut credits: BTreeMap<Account, u128> = BTreeMap::new();
        let mut receipts: Vec<(DeviceId, Vec<u8>)> = Vec::with_capacity(split.len());
        let mut unowned: Vec<String> = Vec::new();
        let mut paid: u128 = 0;
        let mut forfeited: u128 = 0;
        let mut devices_paid: u64 = 0;
        let scored_devices = u64::try_from(split.len()).unwrap_or(u64::MAX);
        for DevicePayout {
            device,
            score,
            amount,
            pools,
        } in split
        {
            let did = device.to_string();
            let owner = match (self.owners)(&device) {
                Some(account) => Some(canonical(&account)?),
                None => None,
            };
            let receipt = match owner {
                Some(account) => {
                    if amount > 0 {
                        let slot = credits.entry(account.clone()).or_insert(0);
                        *slot = slot
                            .checked_add(amount)
                            .ok_or_else(|| overflow("credits"))?;
                        paid = paid
                            .checked_add(amount)
                            .ok_or_else(|| overflow("credits"))?;
                        devices_paid = devices_paid.saturating_add(1);
                    }
                    DeviceReceipt {
                        epoch: epoch.0,
                        device: did,
                        owner: Some(account.to_string()),
                        score,
                        amount: amount.to_string(),
                        forfeited: None,
                        pools,
                    }
                }
                None => {
                    forfeited = forfeited
                        .checked_add(amount)
                        .ok_or_else(|| overflow("credits"))?;
                    unowned.push(did.clone());
                    DeviceReceipt {
                        epoch: epoch.0,
                        device: did,
                        owner: None,
                        score,
                        amount: "0".to_string(),
                        forfeited: Some(amount.to_string()),
                        pools,
                    }
                }
            };
            let bytes = serde_json::to_vec(&receipt)
                .map_err(|e| corrupt(format!("receipt does not serialize: {e}")))?;
            receipts.push((device, bytes));
        }

        // 4. cumulative totals: the previous result's tree plus this epoch's credits
        let mut totals: BTreeMap<Account, u128> = BTreeMap::new();
        if let Some(previous) = previous_result(store, epoch)? {
            let blob = store
                .tree(previous)?
                .ok_or_else(|| corrupt(format!("{previous} has a result but no claim tree")))?;
            let entries = decode_tree(&blob)?;
            let n = entries.len();
            totals.extend(entries);
            if totals.len() != n {
                return Err(corrupt(format!(
                    "the claim tree of {previous} lists an account twice"
                )));
            }
        }
        for (account, amount) in credits {
            let slot = totals.entry(account).or_insert(0);
            *slot = slot
                .checked_add(amount)
                .ok_or_else(|| overflow("cumulative"))?;
        }
        let mut entries: Vec<(String, Account, u128)> = totals
            .into_iter()
            .map(|(account, total)| (account.to_string(), account, total))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let cumulative_total = entries
            .iter()
            .try_fold(0u128, |sum, e| sum.checked_add(e.2))
            .ok_or_else(|| overflow("cumulative"))?;
        let root = if entries.is_empty() {
            [0u8; 32]
        } else {
            let tree_entries = entries.iter().map(|e| (e.1.clone(), e.2)).collect();
            ClaimTree::new(self.format, tree_entries)?.root()
        };
        let tree = encode_tree(&entries)?;

        // 5. summary
        let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
        let at_close = close_rejections.iter().map(|(_, reason, n)| (*reason, *n));
        for (reason, count) in store.rejections(epoch)?.into_iter().chain(at_close) {
            let slot = rejected.entry(reason.code().into_owned()).or_insert(0);
            *slot = slot.saturating_add(count);
        }
        let summary = Summary {
            epoch: epoch.0,
            emission: emission.to_string(),
            scored_devices,
            paid: paid.to_string(),
            paid_devices: devices_paid,
            unowned_devices: unowned,
            forfeited: forfeited.to_string(),
            undistributed: undistributed.to_string(),
            accepted,
            rejected,
            rejected_at_close: refused_now,
        };
        let summary = serde_json::to_vec(&summary)
            .map_err(|e| corrupt(format!("summary does not serialize: {e}")))?;

        Ok(Computation {
            result: EpochResult {
                root,
                epoch_total: paid,
                cumulative_total,
                accepted,
                close_rejections,
                receipts,
                tree,
                summary,
            },
            devices_paid,
        })
    }

    /// Publish `root` for `epoch` unless the chain already has it; the transaction's hash,
    /// if known.
    fn publish(
        &self,
        store: &mut dyn OracleStore,
        epoch: Epoch,
        root: [u8; 32],
        total: u128,
        rt: &tokio::runtime::Handle,
    ) -> Result<Option<String>, CloseError> {
        if root == [0u8; 32] {
            return Ok(None);
        }
        let ours = EpochRoot { epoch, root, total };
        let key = publish_tx_key(epoch);
        let pending: Option<String> = store
            .meta(&key)?
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let backend = &self.backend;

        // published before a crash kept us from recording it?
        if let Some(found) = rt.block_on(backend.epoch_root(epoch))? {
            check_same(&ours, &found)?;
            return Ok(pending);
        }
        // a transaction of an earlier attempt may still be pending: wait for it
        if let Some(tx) = pending.as_deref().and_then(parse_tx) {
            match rt.block_on(backend.wait_for_receipt(&tx)) {
                Ok(receipt) if matches!(receipt.status, TxStatus::Success) => {
                    if let Some(found) = rt.block_on(backend.epoch_root(epoch))? {
                        check_same(&ours, &found)?;
                        return Ok(Some(tx.to_string()));
                    }
                }
                // reverted, or dropped (never mined): publish again
                Ok(_) | Err(crate::Error::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let outcome = match &self.quorum {
            None => rt.block_on(backend.publish_root(&ours))?,
            Some(q) => {
                let statement =
                    crate::quorum::RootStatement::new(q.distributor.clone(), epoch, root, total);
                let agreed = quorum::gather(q, store, &statement, rt)?;
                rt.block_on(backend.publish_quorum_root(&agreed))?
            }
        };
        match outcome {
            PublishOutcome::Published(tx) => {
                let text = tx.to_string();
                store.set_meta(&key, text.as_bytes())?;
                rt.block_on(backend.wait_for_receipt(&tx))?
                    .ensure_success()?;
                Ok(Some(text))
            }
            // published meanwhile with the same root and total
            PublishOutcome::AlreadyPublished => Ok(pending),
        }
    }
}

/// Refuse closes out of order (see [`CloseError::Unfinished`], [`CloseError::OutOfOrder`]).
fn check_order(store: &mut dyn OracleStore, epoch: Epoch) -> Result<(), CloseError> {
    let Some(through) = store.closed_through()? else {
        return Ok(());
    };
    if through < epoch {
        match store.epoch(through)?.map(|r| r.status) {
            Some(EpochStatus::Closing | EpochStatus::Computed) => {
                Err(CloseError::Unfinished { epoch: through })
            }
            _ => Ok(()),
        }
    } else if through > epoch {
        match store.epoch(epoch)?.map(|r| r.status) {
            None | Some(EpochStatus::Open) => Err(CloseError::OutOfOrder {
                epoch,
                closed_through: through,
            }),
            Some(_) => Ok(()),
        }
    } else {
        Ok(())
    }
}

/// The chain's root for the epoch must be ours.
fn check_same(ours: &EpochRoot, found: &EpochRoot) -> Result<(), CloseError> {
    if found.root == ours.root && found.total == ours.total {
        Ok(())
    } else {
        Err(CloseError::ChainConflict {
            epoch: ours.epoch,
            ours: ours.root,
            theirs: found.root,
        })
    }
}

/// A transaction hash as [`TxHandle`]'s `Display` writes it (`0x` + 64 hex digits).
fn parse_tx(text: &str) -> Option<TxHandle> {
    let digits = text.strip_prefix("0x")?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(TxHandle(out))
}

fn stored_row(store: &mut dyn OracleStore, epoch: Epoch) -> Result<EpochRow, CloseError> {
    store
        .epoch(epoch)?
        .ok_or_else(|| corrupt(format!("{epoch} has no row after its close began")))
}

fn report(
    row: &EpochRow,
    already: bool,
    devices_paid: Option<u64>,
    started: Instant,
) -> Result<CloseReport, CloseError> {
    let missing = |what: &str| corrupt(format!("{} has a result without {what}", row.epoch));
    let devices_paid = match devices_paid {
        Some(n) => n,
        None => row
            .summary
            .as_deref()
            .and_then(|s| serde_json::from_slice::<Summary>(s).ok())
            .map_or(0, |s| s.paid_devices),
    };
    Ok(CloseReport {
        epoch: row.epoch,
        root: row.root.ok_or_else(|| missing("a root"))?,
        epoch_total: row.epoch_total.ok_or_else(|| missing("an epoch total"))?,
        cumulative_total: row
            .cumulative_total
            .ok_or_else(|| missing("a cumulative total"))?,
        accepted: row.accepted.ok_or_else(|| missing("an accepted count"))?,
        devices_paid,
        published_tx: row.publish_tx.clone(),
        already,
        duration: started.elapsed(),
    })
}

/// The latest epoch before `epoch` with a stored result.
pub(crate) fn previous_result(
    store: &mut dyn OracleStore,
    epoch: Epoch,
) -> Result<Option<Epoch>, CloseError> {
    match store.latest_result()? {
        None => return Ok(None),
        Some(row) if row.epoch < epoch => return Ok(Some(row.epoch)),
        Some(_) => {}
    }
    // the latest result is at or after `epoch` (a recompute): scan the rows below it
    let mut from = Epoch(0);
    let mut best = None;
    loop {
        let rows = store.epochs(from, PAGE)?;
        let n = rows.len();
        let mut last = None;
        for row in rows {
            if row.epoch >= epoch {
                return Ok(best);
            }
            if row.root.is_some()
                && matches!(row.status, EpochStatus::Computed | EpochStatus::Published)
            {
                best = Some(row.epoch);
            }
            last = Some(row.epoch);
        }
        if n < PAGE {
            return Ok(best);
        }
        match last.and_then(|e| e.0.checked_add(1)) {
            Some(next) => from = Epoch(next),
            None => return Ok(best),
        }
    }
}

/// The latest published epoch's row (the root wallets claim against).
pub(crate) fn latest_published(
    store: &mut dyn OracleStore,
) -> Result<Option<EpochRow>, CloseError> {
    let Some(row) = store.latest_result()? else {
        return Ok(None);
    };
    if row.status == EpochStatus::Published {
        return Ok(Some(row));
    }
    match previous_result(store, row.epoch)? {
        None => Ok(None),
        Some(previous) => Ok(store
            .epoch(previous)?
            .filter(|r| r.status == EpochStatus::Published)),
    }
}

fn encode_tree(entries: &[(String, Account, u128)]) -> Result<Vec<u8>, CloseError> {
    let rows: Vec<(&str, String)> = entries
        .iter()
        .map(|e| (e.0.as_str(), e.2.to_string()))
        .collect();
    serde_json::to_vec(&rows).map_err(|e| corrupt(format!("claim tree does not serialize: {e}")))
}

/// Decode a claim tree blob (see the [module documentation](self)), in its order.
fn decode_tree(blob: &[u8]) -> Result<Vec<(Account, u128)>, CloseError> {
    let rows: Vec<(String, String)> = serde_json::from_slice(blob)
        .map_err(|e| corrupt(format!("claim tree blob does not decode: {e}")))?;
    rows.into_iter()
        .map(|(account, total)| {
            let a = account
                .parse::<Account>()
                .map_err(|e| corrupt(format!("claim tree account {account:?}: {e}")))?;
            let t = total
                .parse::<u128>()
                .map_err(|e| corrupt(format!("claim tree total {total:?}: {e}")))?;
            Ok((a, t))
        })
        .collect()
}

/// What a wallet needs to claim: the account's cumulative total in the latest published
/// tree and its proof. Serialized for the claims API (hashes in lowercase hex without
/// `0x`, amounts as decimal strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimAnswer {
    /// The account (canonical text).
    pub account: String,
    /// The epoch whose root the proof is against.
    pub epoch: u64,
    /// That root, hex.
    pub root: String,
    /// The account's cumulative total, base units (the chain pays it minus what was
    /// already claimed).
    pub cumulative: String,
    /// The Merkle proof, sibling hashes from the leaf up, hex.
    pub proof: Vec<String>,
    /// The ready-to-submit claim ([`crate::DistributorBackend::claim`]); not serialized.
    #[serde(skip)]
    pub claim: Claim,
}

/// The latest published claim tree, rebuilt from the store, to answer claims from. Build it
/// once per published epoch and keep it: rebuilding hashes every leaf.
#[derive(Debug, Clone)]
pub struct ClaimIndex {
    epoch: Epoch,
    root: [u8; 32],
    tree: Option<ClaimTree>,
}

impl ClaimIndex {
    /// The latest published epoch's tree (`None` before any epoch is published). The tree
    /// is rebuilt in `format` and must match its stored root ([`CloseError::Corrupt`]
    /// otherwise, for example when `format` is not the closer's).
    pub fn load(
        store: &mut dyn OracleStore,
        format: ClaimFormat,
    ) -> Result<Option<Self>, CloseError> {
        match latest_published(store)? {
            None => Ok(None),
            Some(row) => Self::from_row(store, format, &row).map(Some),
        }
    }

    /// The tree of a computed or published epoch's row.
    pub(crate) fn from_row(
        store: &mut dyn OracleStore,
        format: ClaimFormat,
        row: &EpochRow,
    ) -> Result<Self, CloseError> {
        let epoch = row.epoch;
        let root = row
            .root
            .ok_or_else(|| corrupt(format!("{epoch} has no root")))?;
        if root == [0u8; 32] {
            return Ok(ClaimIndex {
                epoch,
                root,
                tree: None,
            });
        }
        let blob = store
            .tree(epoch)?
            .ok_or_else(|| corrupt(format!("{epoch} has a root but no claim tree")))?;
        let entries = decode_tree(&blob)?;
        if entries.is_empty() {
            return Err(corrupt(format!(
                "{epoch} has a root but an empty claim tree"
            )));
        }
        let tree = ClaimTree::new(format, entries)?;
        if tree.root() != root {
            return Err(corrupt(format!(
                "the claim tree of {epoch} does not hash to its root in {format:?} \
                 (is that the closer's claim format?)"
            )));
        }
        Ok(ClaimIndex {
            epoch,
            root,
            tree: Some(tree),
        })
    }

    /// The epoch of the tree.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The tree's root (all zero for an empty tree).
    pub fn root(&self) -> [u8; 32] {
        self.root
    }

    /// `account`'s claim (`None` if it is not in the tree).
    pub fn claim(&self, account: &Account) -> Result<Option<ClaimAnswer>, CloseError> {
        let Some(tree) = &self.tree else {
            return Ok(None);
        };
        let account = canonical(account)?;
        let claim = match tree.claim_for(&account) {
            Ok(claim) => claim,
            Err(crate::Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(ClaimAnswer {
            account: account.to_string(),
            epoch: self.epoch.0,
            root: hex::encode(self.root),
            cumulative: claim.cumulative_amount.to_string(),
            proof: claim.proof.iter().map(hex::encode).collect(),
            claim,
        }))
    }
}

/// `account`'s claim against the latest **published** root (the one the chain verifies
/// claims against; a computed but unpublished epoch is not used yet): its cumulative total
/// and proof, `None` if nothing is published or the account is not in the tree. Rebuilds
/// the tree: to answer many claims, keep a [`ClaimIndex`].
pub fn claim_for(
    store: &mut dyn OracleStore,
    format: ClaimFormat,
    account: &Account,
) -> Result<Option<ClaimAnswer>, CloseError> {
    match ClaimIndex::load(store, format)? {
        None => Ok(None),
        Some(index) => index.claim(account),
    }
}

/// A one-line answer to "what did my device earn in this epoch, and if nothing, why?", from
/// the epoch's status and the device's record ([`OracleStore::device_epochs`]).
///
/// ```text
/// epoch not closed yet: 4 accepted so far
/// no accepted reports: 12 rejected as stale, 3 as bad_signature
/// earned 1234 for score 56 (credited to 0x…)
/// scored 56 but has no owner account: its 1234 were not paid
/// ```
pub fn explain(status: EpochStatus, record: &DeviceEpoch) -> String {
    let n = record.accepted;
    let rejected = rejected_phrase(&record.rejected);
    let also = |sep: &str| {
        rejected
            .as_deref()
            .map(|r| format!("{sep}{r}"))
            .unwrap_or_default()
    };
    match status {
        EpochStatus::Open => format!("epoch not closed yet: {n} accepted so far{}", also(", ")),
        EpochStatus::Closing => {
            format!(
                "epoch closing, result not computed yet: {n} accepted{}",
                also(", ")
            )
        }
        EpochStatus::Computed | EpochStatus::Published => {
            let pending = if status == EpochStatus::Computed {
                " (root not published yet)"
            } else {
                ""
            };
            let receipt = record
                .receipt
                .as_deref()
                .and_then(|r| serde_json::from_slice::<DeviceReceipt>(r).ok());
            match receipt {
                Some(DeviceReceipt {
                    owner: None,
                    score,
                    forfeited,
                    ..
                }) => format!(
                    "scored {score} but has no owner account: its {} were not paid",
                    forfeited.as_deref().unwrap_or("0")
                ),
                Some(DeviceReceipt {
                    owner: Some(owner),
                    score,
                    amount,
                    pools,
                    ..
                }) => {
                    if !pools.is_empty() {
                        let lines = pools
                            .iter()
                            .map(|p| format!("{} {} for score {}", p.pool, p.amount, p.score))
                            .collect::<Vec<_>>()
                            .join(", ");
                        format!("earned {amount}: {lines} (credited to {owner}){pending}")
                    } else if amount == "0" {
                        format!(
                            "scored {score} but earned 0: its share of the emission rounds \
                             down to nothing{pending}"
                        )
                    } else {
                        format!("earned {amount} for score {score} (credited to {owner}){pending}")
                    }
                }
                None if n == 0 => match rejected.as_deref() {
                    Some(r) => format!("no accepted reports: {r}"),
                    None => "no accepted reports".to_string(),
                },
                None => format!(
                    "{n} accepted reports scored 0 under the network's rules{}",
                    also("; ")
                ),
            }
        }
    }
}

/// "12 rejected as stale, 3 as bad_signature", most frequent first (`None` if nothing was
/// rejected).
fn rejected_phrase(rejected: &[(depin_attest::Rejection, u64)]) -> Option<String> {
    let mut counts: Vec<(String, u64)> = Vec::new();
    for (reason, count) in rejected {
        if *count == 0 {
            continue;
        }
        let code = reason.code().into_owned();
        match counts.iter_mut().find(|c| c.0 == code) {
            Some(c) => c.1 = c.1.saturating_add(*count),
            None => counts.push((code, *count)),
        }
    }
    if counts.is_empty() {
        return None;
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let parts: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(i, (code, count))| {
            if i == 0 {
                format!("{count} rejected as {code}")
            } else {
                format!("{count} as {code}")
            }
        })
        .collect();
    Some(parts.join(", "))
}
