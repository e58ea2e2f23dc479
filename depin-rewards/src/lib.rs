#![doc = include_str!("../README.md")]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod claims;
pub mod distribution;
pub mod emission;
mod error;
pub mod fixed;
pub mod ledger;
pub mod math;
pub mod owners;
pub mod policy;
pub mod pools;
pub mod receipt;
pub mod score;

pub use distribution::{distribute, Cutoff, Distribution, Mode, Payout, Shares};
pub use emission::EmissionSchedule;
pub use error::{Error, Result};
pub use fixed::{serde_u128, Fixed};
pub use ledger::CumulativeLedger;
pub use math::Rounding;
pub use owners::{roll_up, roll_up_distribution, OwnerTotal, OwnerTotals};
pub use pools::{PoolPlan, PoolSplit, Pools};
pub use receipt::{
    verify_epoch, verify_epoch_with, verify_receipt, verify_receipt_with, CategoryRules,
    EpochRewards, EpochTiming, PublishedEpoch, ReceiptProof, ReceiptTree, RewardReceipt, RuleSet,
};
pub use score::{
    EpochWindow, Evidence, EvidenceRule, EvidenceRules, Factor, FactorKind, FactorRule,
    ScoreBreakdown, ScoreRules,
};
