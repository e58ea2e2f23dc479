//! Per-device reward receipts that anyone can recompute.
//!
//! [`EpochRewards::compute`] scores, distributes and keeps everything needed to explain each
//! payout; [`EpochRewards::receipt`] extracts one device's [`RewardReceipt`]; [`verify_receipt`]
//! re-derives the amount from the receipt alone:
//!
//! 1. every score factor is re-run from its evidence and the share recomputed
//!    ([`ScoreBreakdown::verify`]);
//! 2. if a [`PoolPlan`] is attached, the category pool is recomputed from the emission;
//! 3. `floor(pool × share / total_shares)` and the remainder are recomputed at full width;
//! 4. in [`Mode::LargestRemainder`] the extra unit is re-derived from the epoch's public
//!    [`Cutoff`].
//!
//! A receipt proves the arithmetic from the epoch-wide values it carries (`total_shares`,
//! `devices`, `cutoff`, and `pool` when no plan is attached). That those are the epoch's real
//! values is checked once per epoch against its published summary (for example the
//! [`Distribution`] or the claim-tree root), not per receipt: a single receipt cannot see the
//! other devices' shares.

use alloc::string::String;
use alloc::vec::Vec;

use crate::distribution::{distribute, split_one, Cutoff, Distribution, Mode, Shares};
use crate::fixed::serde_u128;
use crate::pools::PoolPlan;
use crate::score::ScoreBreakdown;
use crate::{Error, Result};

/// Everything that produced one device's payout in one epoch and category.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RewardReceipt<K> {
    /// Epoch number.
    pub epoch: u64,
    /// Pool category, e.g. `"witnesses"`.
    pub category: String,
    /// Device id.
    pub device: K,
    /// The device's score and its factors.
    pub score: ScoreBreakdown,
    /// Pool of the category for the epoch (base units).
    #[serde(with = "serde_u128")]
    pub pool: u128,
    /// How the pool was derived, if recorded.
    pub pool_plan: Option<PoolPlan>,
    /// Sum of all devices' shares in this category (raw 18-decimal units).
    #[serde(with = "serde_u128")]
    pub total_shares: u128,
    /// Number of devices sharing the pool.
    pub devices: u64,
    /// Rounding mode of the distribution.
    pub mode: Mode,
    /// Largest-remainder cutoff of the epoch (`None` if no extra unit was given).
    pub cutoff: Option<Cutoff<K>>,
    /// Base units paid.
    #[serde(with = "serde_u128")]
    pub amount: u128,
}

impl<K: Ord> RewardReceipt<K> {
    /// Recomputes the amount from the receipt's own fields (without checking the score's
    /// evidence or the pool plan; [`verify_receipt`] does both).
    pub fn recompute_amount(&self) -> Result<u128> {
        if self.total_shares == 0 {
            return Err(Error::ZeroTotalShares);
        }
        let s = self.score.share.raw();
        if s > self.total_shares {
            return Err(Error::ReceiptMismatch("share above total shares"));
        }
        let (floor, rem) = split_one(
            self.pool / self.total_shares,
            self.pool % self.total_shares,
            s,
            self.total_shares,
        )?;
        let extra = match (self.mode, &self.cutoff) {
            (Mode::LargestRemainder, Some(c)) => rem != 0 && c.includes(rem, &self.device),
            _ => false,
        };
        Ok(floor + u128::from(extra))
    }
}

/// Verifies a receipt end to end; `Ok(())` if it reproduces exactly.
///
/// Errors with [`Error::ReceiptMismatch`] naming the first thing that differs.
pub fn verify_receipt<K: Ord>(receipt: &RewardReceipt<K>) -> Result<()> {
    receipt.score.verify()?;
    if let Some(plan) = &receipt.pool_plan {
        let pools = plan.compute()?;
        if pools.get(&receipt.category) != Some(receipt.pool) {
            return Err(Error::ReceiptMismatch("pool"));
        }
    }
    if receipt.recompute_amount()? != receipt.amount {
        return Err(Error::ReceiptMismatch("amount"));
    }
    Ok(())
}

/// One epoch's rewards for one pool category: scores, distribution and receipts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EpochRewards<K> {
    epoch: u64,
    category: String,
    pool_plan: Option<PoolPlan>,
    distribution: Distribution<K>,
    /// Scores in the same (id) order as the distribution's payouts.
    scores: Vec<ScoreBreakdown>,
}

impl<K: Ord + Clone> EpochRewards<K> {
    /// Distributes `pool` over the devices' scores (`share` of each [`ScoreBreakdown`], raw
    /// 18-decimal units). A device listed twice is an error ([`Error::DuplicateEntry`]), as are
    /// empty epochs and all-zero scores (see [`crate::distribute`]).
    ///
    /// ```
    /// use depin_rewards::receipt::{verify_receipt, EpochRewards};
    /// use depin_rewards::score::{Evidence, Factor, ScoreBreakdown};
    /// use depin_rewards::Mode;
    /// let score = |n| ScoreBreakdown::new(Factor::from_evidence("witness", Evidence::Hip15Witness { witnesses: n }).unwrap());
    /// let epoch = EpochRewards::compute(7, "witnesses", 1_000, Mode::LargestRemainder,
    ///     vec![(1u32, score(5)), (2, score(6)), (3, score(4))]).unwrap();
    /// let r = epoch.receipt(&2).unwrap();
    /// assert_eq!(r.amount, 256); // 1000 × 0.6067 / (0.76 + 0.6067 + 1) = 256.34...
    /// verify_receipt(&r).unwrap();
    /// ```
    pub fn compute(
        epoch: u64,
        category: impl Into<String>,
        pool: u128,
        mode: Mode,
        scores: Vec<(K, ScoreBreakdown)>,
    ) -> Result<Self> {
        let mut scores = scores;
        scores.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let entries: Vec<(K, u128)> = scores
            .iter()
            .map(|(k, s)| (k.clone(), s.share.raw()))
            .collect();
        let distribution = distribute(&Shares::from_sorted(entries)?, pool, mode)?;
        Ok(EpochRewards {
            epoch,
            category: category.into(),
            pool_plan: None,
            distribution,
            scores: scores.into_iter().map(|(_, s)| s).collect(),
        })
    }

    /// Attaches the plan the pool came from; errors with [`Error::ReceiptMismatch`] if the
    /// plan does not yield this category's pool.
    pub fn with_pool_plan(mut self, plan: PoolPlan) -> Result<Self> {
        let pools = plan.compute()?;
        if pools.get(&self.category) != Some(self.distribution.pool()) {
            return Err(Error::ReceiptMismatch("pool"));
        }
        self.pool_plan = Some(plan);
        Ok(self)
    }

    /// Epoch number.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Pool category.
    pub fn category(&self) -> &str {
        &self.category
    }

    /// The distribution.
    pub fn distribution(&self) -> &Distribution<K> {
        &self.distribution
    }

    /// The receipt of device `id`.
    pub fn receipt(&self, id: &K) -> Option<RewardReceipt<K>> {
        let i = self.distribution.position(id)?;
        self.receipt_at(i)
    }

    /// All receipts, in device id order.
    pub fn receipts(&self) -> impl Iterator<Item = RewardReceipt<K>> + '_ {
        (0..self.scores.len()).filter_map(move |i| self.receipt_at(i))
    }

    fn receipt_at(&self, i: usize) -> Option<RewardReceipt<K>> {
        let d = &self.distribution;
        let p = d.payouts().get(i)?;
        let score = self.scores.get(i)?;
        Some(RewardReceipt {
            epoch: self.epoch,
            category: self.category.clone(),
            device: p.id.clone(),
            score: score.clone(),
            pool: d.pool(),
            pool_plan: self.pool_plan.clone(),
            total_shares: d.total_shares(),
            devices: d.len() as u64,
            mode: d.mode(),
            cutoff: d.cutoff().cloned(),
            amount: p.amount,
        })
    }
}
