//! Per-device reward receipts, verified against the network's published rules and the epoch's
//! published distribution.
//!
//! A receipt on its own proves nothing: it carries its own policy parameters, its own `Given`
//! values and its own epoch-wide totals, so a forger can make any receipt agree with itself.
//! Verification therefore takes three published values:
//!
//! * the network's [`RuleSet`]: per category, the factors of a score with the evidence kind and
//!   the policy parameters of each ([`ScoreRules`]), where `Given` values are allowed, the epoch
//!   timing, the rounding mode and the pool split; identified by [`RuleSet::commitment`];
//! * the epoch's [`PublishedEpoch`]: epoch, category, rule-set commitment, pool (and the
//!   [`PoolPlan`] it came from), mode, number of devices, total shares, amount paid, the
//!   largest-remainder [`Cutoff`] and the Merkle root over **every** receipt of the epoch;
//!   identified by [`PublishedEpoch::commitment`] (publish that, on chain or signed);
//! * for one receipt, its [`ReceiptProof`] of inclusion under that root.
//!
//! [`verify_receipt`] checks, in order:
//!
//! 1. the rule set hashes to the published commitment ([`Error::RuleSetMismatch`]) and the
//!    summary is consistent with it and with itself: mode, pool plan and split, amount paid
//!    ([`Error::PublishedMismatch`]);
//! 2. the receipt's epoch, category and epoch-wide values (pool, plan, mode, total shares,
//!    devices, cutoff) equal the published ones ([`Error::EpochBinding`]);
//! 3. the score follows the published rules of the category and every value is recomputed
//!    with the **published** parameters, never the receipt's own ([`ScoreRules::verify`]:
//!    [`Error::FactorCountMismatch`], [`Error::FactorMismatch`], [`Error::GivenNotAllowed`],
//!    [`Error::ReceiptMismatch`]);
//!    factors published as network-defined rules
//!    ([`FactorKind::Custom`](crate::score::FactorKind::Custom)) need the rule's
//!    implementation: pass it in an [`EvidenceRules`] to [`verify_receipt_with`]
//!    ([`Error::UnknownEvidenceRule`], [`Error::EvidenceRuleVersion`] otherwise);
//! 4. the receipt (device, epoch, category, score, amount and every other field) is a leaf
//!    under the published root ([`Error::NotInEpoch`]);
//! 5. the amount is `floor(pool × share / total_shares)` (256-bit exact) plus, in
//!    [`Mode::LargestRemainder`], the extra unit re-derived from the published cutoff
//!    ([`Error::ReceiptMismatch`]`("amount")`).
//!
//! [`verify_epoch`] checks all receipts of an epoch at once: each one as above, exactly the
//! published number of them ([`Error::ReceiptCountMismatch`]), every device once
//! ([`Error::DuplicateEntry`]), their shares summing to the published total and their amounts
//! to the published amount paid, which is the pool exactly in [`Mode::LargestRemainder`]
//! ([`Error::EpochTotalMismatch`]), and their leaves hashing to the published root
//! ([`Error::EpochRootMismatch`]).
//!
//! An oracle produces the three values with [`EpochRewards::compute`],
//! [`EpochRewards::publish`] (which refuses an epoch that breaks the rules) and
//! [`EpochRewards::receipts_with_proofs`].
//!
//! Every verifier has a `_with` form taking the network-defined [`EvidenceRules`]
//! ([`verify_receipt_with`], [`verify_epoch_with`], [`EpochRewards::publish_with`],
//! [`RuleSet::verify_score_with`]); the forms without it use an empty registry, so they
//! refuse every score with a [`FactorKind::Custom`](crate::score::FactorKind::Custom) factor
//! and otherwise behave the same.
//!
//! # Hashes
//!
//! Every hash is SHA-256 over a canonical binary encoding of the value's serde data model
//! ([`canonical_encoding`]): unsigned and signed integers fixed-width big-endian, `bool` one
//! byte, `char` as `u32`; strings, byte strings, sequences and maps prefixed with their length
//! as `u64` big-endian (maps in their iteration order; this crate only serialises ordered
//! maps); `Option` a `0x00` / `0x01` tag; an enum variant its index as `u32` big-endian
//! followed by its fields; structs and tuples their fields in declaration order without
//! names. [`Fixed`](crate::Fixed) values and amounts are `u128`; floating point is refused. The
//! encoding is the non-human-readable form (device ids serialise as their binary form).
//!
//! | hash | preimage |
//! |---|---|
//! | receipt leaf | `0x00 ‖ enc("depin-rewards/receipt/v1") ‖ enc(receipt)` |
//! | inner node | `0x01 ‖ left ‖ right` |
//! | rule-set commitment | `0x02 ‖ enc("depin-rewards/rule-set/v1") ‖ enc(rule set)` |
//! | epoch commitment | `0x02 ‖ enc("depin-rewards/published-epoch/v1") ‖ enc(summary)` |
//!
//! The receipt tree has the leaves in ascending device order and the shape of RFC 6962 trees
//! (built level by level, an odd last node promoted unchanged). Leaves and inner nodes differ
//! in their first byte, so neither can be presented as the other.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::claims::Hash;
use crate::distribution::{distribute, split_one, Cutoff, Distribution, Mode, Shares};
use crate::error::ensure_no_duplicates;
use crate::fixed::serde_u128;
use crate::pools::{PoolPlan, PoolSplit};
use crate::score::{EpochWindow, EvidenceRules, ScoreBreakdown, ScoreRules};
use crate::{Error, Result};

/// Domain of receipt leaves.
pub const RECEIPT_DOMAIN: &str = "depin-rewards/receipt/v1";
/// Domain of rule-set commitments.
pub const RULE_SET_DOMAIN: &str = "depin-rewards/rule-set/v1";
/// Domain of published-epoch commitments.
pub const PUBLISHED_EPOCH_DOMAIN: &str = "depin-rewards/published-epoch/v1";
/// First byte of leaf preimages.
pub const LEAF_PREFIX: u8 = 0x00;
/// First byte of inner-node preimages.
pub const NODE_PREFIX: u8 = 0x01;
/// First byte of commitment preimages.
pub const COMMITMENT_PREFIX: u8 = 0x02;

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
    /// Recomputes the amount from the receipt's own fields. This is arithmetic only: it
    /// trusts the receipt's score, pool and totals; [`verify_receipt`] checks those against
    /// the published rules and epoch.
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

impl<K: Serialize> RewardReceipt<K> {
    /// The receipt's leaf in its epoch's receipt tree:
    /// `SHA-256(0x00 ‖ enc("depin-rewards/receipt/v1") ‖ enc(receipt))` (see the module docs).
    pub fn leaf(&self) -> Result<Hash> {
        tagged_hash(LEAF_PREFIX, RECEIPT_DOMAIN, self)
    }
}

/// When epochs happen: epoch `n` covers the Unix seconds
/// `[genesis_secs + n × epoch_secs, genesis_secs + (n + 1) × epoch_secs)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EpochTiming {
    /// Start of epoch 0 (Unix seconds).
    pub genesis_secs: u64,
    /// Length of an epoch in seconds (non-zero).
    pub epoch_secs: u64,
}

impl EpochTiming {
    /// The time window of `epoch`.
    ///
    /// ```
    /// use depin_rewards::receipt::EpochTiming;
    /// let t = EpochTiming { genesis_secs: 1_000, epoch_secs: 86_400 };
    /// let w = t.window(2).unwrap();
    /// assert_eq!((w.start, w.end), (1_000 + 2 * 86_400, 1_000 + 3 * 86_400));
    /// ```
    pub fn window(&self, epoch: u64) -> Result<EpochWindow> {
        if self.epoch_secs == 0 {
            return Err(Error::InvalidParameter("zero-length epoch"));
        }
        let start = epoch
            .checked_mul(self.epoch_secs)
            .and_then(|o| o.checked_add(self.genesis_secs))
            .ok_or(Error::Overflow("epoch window"))?;
        let end = start
            .checked_add(self.epoch_secs)
            .ok_or(Error::Overflow("epoch window"))?;
        Ok(EpochWindow { start, end })
    }
}

/// The scoring rules of one pool category.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CategoryRules {
    /// Pool category, e.g. `"witnesses"`.
    pub category: String,
    /// Factors a score in this category must have, in order.
    pub score: ScoreRules,
}

/// A network's published reward rules: how every category's scores are computed (factors,
/// evidence kinds, policy parameters, where `Given` values are allowed), the epoch timing, the
/// distribution's rounding mode and the pool split.
///
/// Publish [`RuleSet::commitment`] (and the rule set itself) before the epochs it governs; a
/// [`PublishedEpoch`] names the commitment it was computed under. Change any parameter and the
/// commitment changes, so receipts computed under other rules do not verify.
///
/// ```
/// use depin_rewards::policy::location::LocationTrustPolicy;
/// use depin_rewards::receipt::RuleSet;
/// use depin_rewards::score::{FactorKind, FactorRule, ScoreRules};
/// use depin_rewards::{Fixed, Mode};
/// let rules = |policy| RuleSet::new("mobile", 1, Mode::LargestRemainder).with_category(
///     "poc",
///     ScoreRules::new(FactorRule::new("coverage_points", FactorKind::Given { max: None }))
///         .with(FactorRule::new("location", FactorKind::LocationTrust { policy })),
/// );
/// let published = rules(LocationTrustPolicy::HELIUM_MOBILE);
/// let lenient = rules(LocationTrustPolicy { partial_score: Fixed::ONE, ..LocationTrustPolicy::HELIUM_MOBILE });
/// assert_ne!(published.commitment().unwrap(), lenient.commitment().unwrap());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleSet {
    /// Network name (part of the commitment: two networks never share one).
    pub network: String,
    /// Version of the rules; publish a new version for every change.
    pub version: u32,
    /// Rounding mode every distribution must use.
    pub mode: Mode,
    /// Epoch timing; required when a category uses uptime or speed-test evidence.
    pub timing: Option<EpochTiming>,
    /// If set, every epoch's pool must come from a [`PoolPlan`] with exactly this split.
    pub split: Option<PoolSplit>,
    /// Scoring rules, one entry per category.
    pub categories: Vec<CategoryRules>,
}

impl RuleSet {
    /// Rules with no categories yet, no timing and no split.
    pub fn new(network: impl Into<String>, version: u32, mode: Mode) -> Self {
        RuleSet {
            network: network.into(),
            version,
            mode,
            timing: None,
            split: None,
            categories: Vec::new(),
        }
    }

    /// Sets the epoch timing.
    pub fn with_timing(mut self, timing: EpochTiming) -> Self {
        self.timing = Some(timing);
        self
    }

    /// Requires every epoch's pool to come from a plan with this split.
    pub fn with_split(mut self, split: PoolSplit) -> Self {
        self.split = Some(split);
        self
    }

    /// Adds the scoring rules of a category.
    pub fn with_category(mut self, category: impl Into<String>, score: ScoreRules) -> Self {
        self.categories.push(CategoryRules {
            category: category.into(),
            score,
        });
        self
    }

    /// The scoring rules of `category`, if published.
    pub fn score_rules(&self, category: &str) -> Option<&ScoreRules> {
        self.categories
            .iter()
            .find(|c| c.category == category)
            .map(|c| &c.score)
    }

    /// The time window of `epoch` (`None` without [`RuleSet::timing`]).
    pub fn window(&self, epoch: u64) -> Result<Option<EpochWindow>> {
        self.timing.map(|t| t.window(epoch)).transpose()
    }

    /// Checks the rules themselves: at least one category, no category twice
    /// ([`Error::DuplicateEntry`]), valid policy parameters, a non-zero epoch length, and
    /// timing present when uptime or speed-test rules need it.
    pub fn validate(&self) -> Result<()> {
        if self.categories.is_empty() {
            return Err(Error::InvalidParameter("rule set has no categories"));
        }
        let mut names: Vec<&str> = self
            .categories
            .iter()
            .map(|c| c.category.as_str())
            .collect();
        names.sort_unstable();
        ensure_no_duplicates(&names, |a, b| a == b)?;
        for c in &self.categories {
            c.score.validate()?;
            if c.score.needs_window() && self.timing.is_none() {
                return Err(Error::InvalidParameter(
                    "uptime and speed-test rules need the epoch timing",
                ));
            }
        }
        if let Some(t) = &self.timing {
            if t.epoch_secs == 0 {
                return Err(Error::InvalidParameter("zero-length epoch"));
            }
        }
        Ok(())
    }

    /// The rule set's commitment:
    /// `SHA-256(0x02 ‖ enc("depin-rewards/rule-set/v1") ‖ enc(rule set))`.
    pub fn commitment(&self) -> Result<Hash> {
        tagged_hash(COMMITMENT_PREFIX, RULE_SET_DOMAIN, self)
    }

    /// Checks one score of `category` in `epoch` against these rules ([`ScoreRules::verify`]
    /// with the epoch's window); [`Error::UnknownCategory`] if the category is not published.
    pub fn verify_score(&self, epoch: u64, category: &str, score: &ScoreBreakdown) -> Result<()> {
        self.verify_score_with(epoch, category, score, &EvidenceRules::new())
    }

    /// [`RuleSet::verify_score`] with the network-defined rules `evidence_rules` available
    /// ([`ScoreRules::verify_with`] with the epoch's window).
    pub fn verify_score_with(
        &self,
        epoch: u64,
        category: &str,
        score: &ScoreBreakdown,
        evidence_rules: &EvidenceRules,
    ) -> Result<()> {
        let rules = self.score_rules(category).ok_or(Error::UnknownCategory)?;
        rules.verify_with(score, self.window(epoch)?, evidence_rules)
    }
}

/// The published summary of one epoch and category: what every receipt of the epoch is
/// verified against.
///
/// Publish [`PublishedEpoch::commitment`] (on chain next to the claim root, or signed by the
/// oracle); a verifier must take the summary from there, never from the party presenting a
/// receipt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishedEpoch<K> {
    /// Epoch number.
    pub epoch: u64,
    /// Pool category.
    pub category: String,
    /// Commitment of the [`RuleSet`] the epoch was computed under.
    pub rules: Hash,
    /// Pool of the category (base units).
    #[serde(with = "serde_u128")]
    pub pool: u128,
    /// How the pool was derived, if recorded (required when the rule set has a split).
    pub pool_plan: Option<PoolPlan>,
    /// Rounding mode of the distribution.
    pub mode: Mode,
    /// Number of receipts (devices) in the epoch.
    pub devices: u64,
    /// Sum of all devices' shares (raw 18-decimal units).
    #[serde(with = "serde_u128")]
    pub total_shares: u128,
    /// Sum of all receipts' amounts: the pool in [`Mode::LargestRemainder`], at most the pool
    /// in [`Mode::Floor`].
    #[serde(with = "serde_u128")]
    pub paid: u128,
    /// Largest-remainder cutoff (`None` in [`Mode::Floor`] or when nothing was left over).
    pub cutoff: Option<Cutoff<K>>,
    /// Root of the receipt tree over every receipt of the epoch (see the module docs).
    pub receipts_root: Hash,
}

impl<K> PublishedEpoch<K> {
    /// Base units of the pool paid to nobody (`pool − paid`).
    pub fn unallocated(&self) -> u128 {
        self.pool.saturating_sub(self.paid)
    }
}

impl<K: Serialize> PublishedEpoch<K> {
    /// The summary's commitment:
    /// `SHA-256(0x02 ‖ enc("depin-rewards/published-epoch/v1") ‖ enc(summary))`.
    pub fn commitment(&self) -> Result<Hash> {
        tagged_hash(COMMITMENT_PREFIX, PUBLISHED_EPOCH_DOMAIN, self)
    }
}

impl<K: Ord + Clone + Serialize> PublishedEpoch<K> {
    /// Summarises an epoch's receipts (any order) under the rule-set commitment `rules`:
    /// the receipts must agree on every epoch-wide value ([`Error::EpochBinding`]), name each
    /// device once ([`Error::DuplicateEntry`]) and be as many as they say
    /// ([`Error::ReceiptCountMismatch`]).
    ///
    /// This only summarises; it does not check the scores against any rules. Use
    /// [`EpochRewards::publish`] to publish, and [`verify_epoch`] to check a publication.
    pub fn from_receipts(rules: Hash, receipts: &[RewardReceipt<K>]) -> Result<Self> {
        let sorted = sorted_by_device(receipts)?;
        let first = *sorted.first().ok_or(Error::EmptyEpoch)?;
        let found = u64::try_from(sorted.len()).unwrap_or(u64::MAX);
        if found != first.devices {
            return Err(Error::ReceiptCountMismatch {
                expected: first.devices,
                found,
            });
        }
        let mut published = PublishedEpoch {
            epoch: first.epoch,
            category: first.category.clone(),
            rules,
            pool: first.pool,
            pool_plan: first.pool_plan.clone(),
            mode: first.mode,
            devices: first.devices,
            total_shares: first.total_shares,
            paid: 0,
            cutoff: first.cutoff.clone(),
            receipts_root: [0u8; 32],
        };
        let mut paid: u128 = 0;
        let mut leaves = Vec::with_capacity(sorted.len());
        for r in sorted.iter().copied() {
            bind(r, &published)?;
            paid = paid
                .checked_add(r.amount)
                .ok_or(Error::Overflow("epoch payouts"))?;
            leaves.push(r.leaf()?);
        }
        published.paid = paid;
        published.receipts_root = ReceiptTree::new(leaves)?.root();
        Ok(published)
    }
}

/// A proof that one receipt is a leaf of an epoch's receipt tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReceiptProof {
    /// Position of the leaf (receipts in ascending device order).
    pub index: u64,
    /// Number of leaves (receipts) in the tree.
    pub size: u64,
    /// Sibling hashes from the leaf level up (levels where the node has no sibling are
    /// skipped).
    pub path: Vec<Hash>,
}

impl ReceiptProof {
    /// `true` if `leaf` at [`ReceiptProof::index`] of a tree of [`ReceiptProof::size`] leaves
    /// hashes up to `root` with exactly this path.
    pub fn verify(&self, leaf: &Hash, root: &Hash) -> bool {
        if self.index >= self.size {
            return false;
        }
        let (mut index, mut size) = (self.index, self.size);
        let mut h = *leaf;
        let mut path = self.path.iter();
        while size > 1 {
            if index % 2 == 1 {
                let Some(s) = path.next() else {
                    return false;
                };
                h = node_hash(s, &h);
            } else if index + 1 < size {
                let Some(s) = path.next() else {
                    return false;
                };
                h = node_hash(&h, s);
            }
            index /= 2;
            size = size.div_ceil(2);
        }
        path.next().is_none() && h == *root
    }
}

/// The Merkle tree over an epoch's receipt leaves (see the module docs for its shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptTree {
    /// `levels[0]` are the leaves, the last level is the root.
    levels: Vec<Vec<Hash>>,
}

impl ReceiptTree {
    /// Builds the tree over leaves already in ascending device order
    /// ([`RewardReceipt::leaf`]); [`Error::EmptyEpoch`] without leaves.
    pub fn new(leaves: Vec<Hash>) -> Result<Self> {
        if leaves.is_empty() {
            return Err(Error::EmptyEpoch);
        }
        let mut levels = Vec::new();
        let mut current = leaves;
        while current.len() > 1 {
            let next: Vec<Hash> = current
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => node_hash(a, b),
                    [a] => *a,
                    _ => [0u8; 32],
                })
                .collect();
            levels.push(current);
            current = next;
        }
        levels.push(current);
        Ok(ReceiptTree { levels })
    }

    /// The root.
    pub fn root(&self) -> Hash {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// Always `false`: a tree has at least one leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inclusion proof of the leaf at `index`.
    pub fn proof(&self, index: usize) -> Result<ReceiptProof> {
        let len = self.len();
        if index >= len {
            return Err(Error::IndexOutOfRange { index, len });
        }
        let mut path = Vec::new();
        let mut position = index;
        for level in self.levels.iter().take(self.levels.len().saturating_sub(1)) {
            if let Some(h) = level.get(position ^ 1) {
                path.push(*h);
            }
            position /= 2;
        }
        Ok(ReceiptProof {
            index: index as u64,
            size: len as u64,
            path,
        })
    }
}

/// Verifies one receipt against the epoch's published summary and the published rule set,
/// with its proof of inclusion in the epoch's receipt tree (see the module docs for the
/// checks and their errors). `Ok(())` only if every check passes.
///
/// `published` and `rules` must come from the network's publication (chain, signed summary),
/// not from whoever presents the receipt.
///
/// This is [`verify_receipt_with`] with no network-defined evidence rules: a receipt whose
/// category has a [`FactorKind::Custom`](crate::score::FactorKind::Custom) factor errors with
/// [`Error::UnknownEvidenceRule`].
pub fn verify_receipt<K: Ord + Serialize>(
    receipt: &RewardReceipt<K>,
    proof: &ReceiptProof,
    published: &PublishedEpoch<K>,
    rules: &RuleSet,
) -> Result<()> {
    verify_receipt_with(receipt, proof, published, rules, &EvidenceRules::new())
}

/// [`verify_receipt`] with the network-defined evidence rules `evidence_rules`: factors
/// published as [`FactorKind::Custom`](crate::score::FactorKind::Custom) are recomputed by the
/// registered rule of the published name and version, with the published parameters
/// ([`ScoreRules::verify_with`]).
///
/// `evidence_rules` are the verifier's own implementations of the rules the network
/// specifies, never code supplied with the receipt.
pub fn verify_receipt_with<K: Ord + Serialize>(
    receipt: &RewardReceipt<K>,
    proof: &ReceiptProof,
    published: &PublishedEpoch<K>,
    rules: &RuleSet,
    evidence_rules: &EvidenceRules,
) -> Result<()> {
    let (score_rules, window) = check_published(published, rules)?;
    bind(receipt, published)?;
    score_rules.verify_with(&receipt.score, window, evidence_rules)?;
    if proof.size != published.devices || !proof.verify(&receipt.leaf()?, &published.receipts_root)
    {
        return Err(Error::NotInEpoch);
    }
    if receipt.recompute_amount()? != receipt.amount {
        return Err(Error::ReceiptMismatch("amount"));
    }
    Ok(())
}

/// Verifies all receipts of an epoch (any order) against its published summary and rule set:
/// every receipt as in [`verify_receipt`] (without proofs), exactly
/// [`PublishedEpoch::devices`] of them, each device once, shares summing to the published
/// total and amounts to the published amount paid, and the receipt tree over them hashing to
/// the published root (see the module docs for the errors).
///
/// This is [`verify_epoch_with`] with no network-defined evidence rules.
pub fn verify_epoch<K: Ord + Serialize>(
    receipts: &[RewardReceipt<K>],
    published: &PublishedEpoch<K>,
    rules: &RuleSet,
) -> Result<()> {
    verify_epoch_with(receipts, published, rules, &EvidenceRules::new())
}

/// [`verify_epoch`] with the network-defined evidence rules `evidence_rules` (see
/// [`verify_receipt_with`]).
pub fn verify_epoch_with<K: Ord + Serialize>(
    receipts: &[RewardReceipt<K>],
    published: &PublishedEpoch<K>,
    rules: &RuleSet,
    evidence_rules: &EvidenceRules,
) -> Result<()> {
    let (score_rules, window) = check_published(published, rules)?;
    let found = u64::try_from(receipts.len()).unwrap_or(u64::MAX);
    if found != published.devices {
        return Err(Error::ReceiptCountMismatch {
            expected: published.devices,
            found,
        });
    }
    let sorted = sorted_by_device(receipts)?;
    let (mut shares, mut paid): (u128, u128) = (0, 0);
    let mut leaves = Vec::with_capacity(sorted.len());
    for r in sorted.iter().copied() {
        bind(r, published)?;
        score_rules.verify_with(&r.score, window, evidence_rules)?;
        if r.recompute_amount()? != r.amount {
            return Err(Error::ReceiptMismatch("amount"));
        }
        shares = shares
            .checked_add(r.score.share.raw())
            .ok_or(Error::Overflow("total shares"))?;
        paid = paid
            .checked_add(r.amount)
            .ok_or(Error::Overflow("epoch payouts"))?;
        leaves.push(r.leaf()?);
    }
    if shares != published.total_shares {
        return Err(Error::EpochTotalMismatch {
            what: "shares",
            expected: published.total_shares,
            found: shares,
        });
    }
    if paid != published.paid {
        return Err(Error::EpochTotalMismatch {
            what: "amounts",
            expected: published.paid,
            found: paid,
        });
    }
    if ReceiptTree::new(leaves)?.root() != published.receipts_root {
        return Err(Error::EpochRootMismatch);
    }
    Ok(())
}

/// The receipts sorted by device, each device once.
fn sorted_by_device<K: Ord>(receipts: &[RewardReceipt<K>]) -> Result<Vec<&RewardReceipt<K>>> {
    let mut sorted: Vec<&RewardReceipt<K>> = receipts.iter().collect();
    sorted.sort_by(|a, b| a.device.cmp(&b.device));
    ensure_no_duplicates(&sorted, |a, b| a.device == b.device)?;
    Ok(sorted)
}

/// The receipt's epoch, category and epoch-wide values equal the published ones.
fn bind<K: PartialEq>(r: &RewardReceipt<K>, p: &PublishedEpoch<K>) -> Result<()> {
    let field = if r.epoch != p.epoch {
        "epoch"
    } else if r.category != p.category {
        "category"
    } else if r.pool != p.pool {
        "pool"
    } else if r.pool_plan != p.pool_plan {
        "pool plan"
    } else if r.mode != p.mode {
        "mode"
    } else if r.total_shares != p.total_shares {
        "total shares"
    } else if r.devices != p.devices {
        "devices"
    } else if r.cutoff != p.cutoff {
        "cutoff"
    } else {
        return Ok(());
    };
    Err(Error::EpochBinding(field))
}

/// The published summary matches the rule set and itself; returns the category's rules and
/// the epoch's window.
fn check_published<'r, K>(
    p: &PublishedEpoch<K>,
    rules: &'r RuleSet,
) -> Result<(&'r ScoreRules, Option<EpochWindow>)> {
    rules.validate()?;
    if rules.commitment()? != p.rules {
        return Err(Error::RuleSetMismatch);
    }
    let score = rules
        .score_rules(&p.category)
        .ok_or(Error::UnknownCategory)?;
    if p.mode != rules.mode {
        return Err(Error::PublishedMismatch("mode"));
    }
    if p.devices == 0 {
        return Err(Error::EmptyEpoch);
    }
    if p.total_shares == 0 {
        return Err(Error::ZeroTotalShares);
    }
    if p.paid > p.pool {
        return Err(Error::PublishedMismatch("paid above the pool"));
    }
    match p.mode {
        Mode::LargestRemainder => {
            if p.paid != p.pool {
                return Err(Error::PublishedMismatch("paid differs from the pool"));
            }
        }
        Mode::Floor => {
            if p.cutoff.is_some() {
                return Err(Error::PublishedMismatch("cutoff in floor mode"));
            }
        }
    }
    match (&rules.split, &p.pool_plan) {
        (Some(_), None) => return Err(Error::PublishedMismatch("pool plan missing")),
        (Some(split), Some(plan)) if plan.split != *split => {
            return Err(Error::PublishedMismatch("pool split"));
        }
        _ => {}
    }
    if let Some(plan) = &p.pool_plan {
        if plan.compute()?.get(&p.category) != Some(p.pool) {
            return Err(Error::PublishedMismatch("pool"));
        }
    }
    Ok((score, rules.window(p.epoch)?))
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
    /// use depin_rewards::receipt::{verify_epoch, verify_receipt, EpochRewards, RuleSet};
    /// use depin_rewards::score::{Evidence, Factor, FactorKind, FactorRule, ScoreBreakdown, ScoreRules};
    /// use depin_rewards::Mode;
    /// // the network publishes its rules
    /// let rules = RuleSet::new("example", 1, Mode::LargestRemainder).with_category(
    ///     "witnesses",
    ///     ScoreRules::new(FactorRule::new("witness", FactorKind::Hip15Witness)),
    /// );
    /// let score = |n| ScoreBreakdown::new(Factor::from_evidence("witness", Evidence::Hip15Witness { witnesses: n }).unwrap());
    /// let epoch = EpochRewards::compute(7, "witnesses", 1_000, Mode::LargestRemainder,
    ///     vec![(1u32, score(5)), (2, score(6)), (3, score(4))]).unwrap();
    /// // the oracle publishes the epoch's summary and hands out receipts with proofs
    /// let published = epoch.publish(&rules).unwrap();
    /// let receipts = epoch.receipts_with_proofs().unwrap();
    /// for (r, proof) in &receipts {
    ///     verify_receipt(r, proof, &published, &rules).unwrap();
    /// }
    /// let (r, _) = &receipts[1];
    /// assert_eq!(r.amount, 256); // 1000 × 0.6067 / (0.76 + 0.6067 + 1) = 256.34...
    /// let all: Vec<_> = receipts.into_iter().map(|(r, _)| r).collect();
    /// verify_epoch(&all, &published, &rules).unwrap();
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

impl<K: Ord + Clone + Serialize> EpochRewards<K> {
    /// The epoch's summary to publish under `rules`. Refuses an epoch that does not follow the
    /// rules: it runs [`verify_epoch`] on its own receipts before returning.
    ///
    /// This is [`EpochRewards::publish_with`] with no network-defined evidence rules.
    pub fn publish(&self, rules: &RuleSet) -> Result<PublishedEpoch<K>> {
        self.publish_with(rules, &EvidenceRules::new())
    }

    /// [`EpochRewards::publish`] with the network-defined evidence rules `evidence_rules`:
    /// runs [`verify_epoch_with`] on the epoch's own receipts before returning.
    pub fn publish_with(
        &self,
        rules: &RuleSet,
        evidence_rules: &EvidenceRules,
    ) -> Result<PublishedEpoch<K>> {
        let receipts: Vec<RewardReceipt<K>> = self.receipts().collect();
        let published = PublishedEpoch::from_receipts(rules.commitment()?, &receipts)?;
        verify_epoch_with(&receipts, &published, rules, evidence_rules)?;
        Ok(published)
    }

    /// The tree over all receipts' leaves (device id order).
    pub fn receipt_tree(&self) -> Result<ReceiptTree> {
        let leaves = self
            .receipts()
            .map(|r| r.leaf())
            .collect::<Result<Vec<Hash>>>()?;
        ReceiptTree::new(leaves)
    }

    /// All receipts, in device id order, each with its proof of inclusion under the root that
    /// [`EpochRewards::publish`] publishes.
    pub fn receipts_with_proofs(&self) -> Result<Vec<(RewardReceipt<K>, ReceiptProof)>> {
        let receipts: Vec<RewardReceipt<K>> = self.receipts().collect();
        let leaves = receipts
            .iter()
            .map(RewardReceipt::leaf)
            .collect::<Result<Vec<Hash>>>()?;
        let tree = ReceiptTree::new(leaves)?;
        let mut out = Vec::with_capacity(receipts.len());
        for (i, r) in receipts.into_iter().enumerate() {
            let proof = tree.proof(i)?;
            out.push((r, proof));
        }
        Ok(out)
    }
}

/// The canonical binary encoding of `value` that every hash of this module is computed over
/// (see the module docs). Errors with [`Error::Encoding`] for floating point, sequences or
/// maps of unknown length, and custom serialisation errors.
///
/// ```
/// use depin_rewards::receipt::canonical_encoding;
/// assert_eq!(canonical_encoding(&(7u16, "ab", Some(true))).unwrap(),
///     [0, 7, 0, 0, 0, 0, 0, 0, 0, 2, b'a', b'b', 1, 1]);
/// assert!(canonical_encoding(&1.5f64).is_err());
/// ```
pub fn canonical_encoding<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut enc = Encoder { out: Vec::new() };
    value
        .serialize(&mut enc)
        .map_err(|e| Error::Encoding(e.0))?;
    Ok(enc.out)
}

/// `SHA-256(prefix ‖ enc(domain) ‖ enc(value))`.
fn tagged_hash<T: Serialize + ?Sized>(prefix: u8, domain: &str, value: &T) -> Result<Hash> {
    let mut enc = Encoder {
        out: alloc::vec![prefix],
    };
    domain
        .serialize(&mut enc)
        .and_then(|()| value.serialize(&mut enc))
        .map_err(|e| Error::Encoding(e.0))?;
    let mut h = Sha256::new();
    h.update(enc.out.as_slice());
    Ok(h.finalize().into())
}

/// An inner node of the receipt tree.
fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Error of the canonical encoder (a static reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EncodeError(&'static str);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl core::error::Error for EncodeError {}

impl serde::ser::Error for EncodeError {
    fn custom<T>(_msg: T) -> Self
    where
        T: fmt::Display,
    {
        EncodeError("custom serialisation error")
    }
}

/// The canonical encoder (see the module docs).
struct Encoder {
    out: Vec<u8>,
}

impl Encoder {
    fn length(&mut self, n: usize) -> core::result::Result<(), EncodeError> {
        let n = u64::try_from(n).map_err(|_| EncodeError("length above u64"))?;
        self.out.extend_from_slice(&n.to_be_bytes());
        Ok(())
    }

    fn variant(&mut self, index: u32) {
        self.out.extend_from_slice(&index.to_be_bytes());
    }
}

type EncodeResult<T = ()> = core::result::Result<T, EncodeError>;

impl serde::Serializer for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> EncodeResult {
        self.out.push(u8::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> EncodeResult {
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> EncodeResult {
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> EncodeResult {
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> EncodeResult {
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> EncodeResult {
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> EncodeResult {
        self.out.push(v);
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> EncodeResult {
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> EncodeResult {
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> EncodeResult {
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> EncodeResult {
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn serialize_f32(self, _v: f32) -> EncodeResult {
        Err(EncodeError("floating point has no canonical encoding"))
    }

    fn serialize_f64(self, _v: f64) -> EncodeResult {
        Err(EncodeError("floating point has no canonical encoding"))
    }

    fn serialize_char(self, v: char) -> EncodeResult {
        self.out.extend_from_slice(&u32::from(v).to_be_bytes());
        Ok(())
    }

    fn serialize_str(self, v: &str) -> EncodeResult {
        self.length(v.len())?;
        self.out.extend_from_slice(v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> EncodeResult {
        self.length(v.len())?;
        self.out.extend_from_slice(v);
        Ok(())
    }

    fn serialize_none(self) -> EncodeResult {
        self.out.push(0);
        Ok(())
    }

    fn serialize_some<T>(self, value: &T) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        self.out.push(1);
        value.serialize(self)
    }

    fn serialize_unit(self) -> EncodeResult {
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> EncodeResult {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
    ) -> EncodeResult {
        self.variant(variant_index);
        Ok(())
    }

    fn serialize_newtype_struct<T>(self, _name: &'static str, value: &T) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T>(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
        value: &T,
    ) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        self.variant(variant_index);
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> EncodeResult<Self> {
        let n = len.ok_or(EncodeError("sequence of unknown length"))?;
        self.length(n)?;
        Ok(self)
    }

    fn serialize_tuple(self, _len: usize) -> EncodeResult<Self> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> EncodeResult<Self> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> EncodeResult<Self> {
        self.variant(variant_index);
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> EncodeResult<Self> {
        let n = len.ok_or(EncodeError("map of unknown length"))?;
        self.length(n)?;
        Ok(self)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> EncodeResult<Self> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> EncodeResult<Self> {
        self.variant(variant_index);
        Ok(self)
    }

    fn collect_str<T>(self, value: &T) -> EncodeResult
    where
        T: ?Sized + fmt::Display,
    {
        let s = alloc::string::ToString::to_string(value);
        self.serialize_str(&s)
    }
}

impl serde::ser::SerializeSeq for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_element<T>(&mut self, value: &T) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        value.serialize(&mut **self)
    }

    fn end(self) -> EncodeResult {
        Ok(())
    }
}

impl serde::ser::SerializeTuple for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_element<T>(&mut self, value: &T) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        value.serialize(&mut **self)
    }

    fn end(self) -> EncodeResult {
        Ok(())
    }
}

impl serde::ser::SerializeTupleStruct for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T>(&mut self, value: &T) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        value.serialize(&mut **self)
    }

    fn end(self) -> EncodeResult {
        Ok(())
    }
}

impl serde::ser::SerializeTupleVariant for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T>(&mut self, value: &T) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        value.serialize(&mut **self)
    }

    fn end(self) -> EncodeResult {
        Ok(())
    }
}

impl serde::ser::SerializeMap for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_key<T>(&mut self, key: &T) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        key.serialize(&mut **self)
    }

    fn serialize_value<T>(&mut self, value: &T) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        value.serialize(&mut **self)
    }

    fn end(self) -> EncodeResult {
        Ok(())
    }
}

impl serde::ser::SerializeStruct for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T>(&mut self, _key: &'static str, value: &T) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        value.serialize(&mut **self)
    }

    fn skip_field(&mut self, _key: &'static str) -> EncodeResult {
        Err(EncodeError("skipped field"))
    }

    fn end(self) -> EncodeResult {
        Ok(())
    }
}

impl serde::ser::SerializeStructVariant for &mut Encoder {
    type Ok = ();
    type Error = EncodeError;

    fn serialize_field<T>(&mut self, _key: &'static str, value: &T) -> EncodeResult
    where
        T: ?Sized + Serialize,
    {
        value.serialize(&mut **self)
    }

    fn skip_field(&mut self, _key: &'static str) -> EncodeResult {
        Err(EncodeError("skipped field"))
    }

    fn end(self) -> EncodeResult {
        Ok(())
    }
}
