//! Helium's oracle rule for cumulative per-device rewards: every oracle submits what it
//! computed a device has earned in total so far; a payment needs submissions from at least
//! `ceil(n/2)` of the `n` oracles, and pays the **upper median** of the submitted totals minus
//! what the device was already paid.
//!
//! This is the rule of Helium's lazy distributor (`helium-program-library`, program
//! `lazy-distributor`: its distribute instructions require
//! `current_rewards.iter().flatten().count() >= (oracles.len() + 1) / 2` and pay the median of
//! the reported cumulative rewards). The median is taken as the upper one, the element at
//! index `len / 2` of the sorted reports. While fewer than half of the reports are wrong, it
//! lies between two honest reports: a minority of oracles can move it neither above the
//! highest honest report nor below the lowest.
//!
//! ```
//! use depin_rewards::policy::median::{median_payout, MedianPayout};
//!
//! // five oracles; three reported (the minimum, ceil(5/2)); one lies high
//! let due = median_payout(5, &[1_000, 1_010, 9_999_999], 400).unwrap();
//! assert_eq!(due, MedianPayout::Pay { target: 1_010, amount: 610 });
//! // two reports of five are not enough
//! assert_eq!(median_payout(5, &[1_000, 1_010], 400).unwrap(), MedianPayout::NotEnoughOracles { have: 2, need: 3 });
//! ```

use alloc::vec::Vec;

use crate::error::{Error, Result};

/// What [`median_payout`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MedianPayout {
    /// Fewer oracles reported than the rule needs: nothing is paid yet.
    NotEnoughOracles {
        /// How many reported.
        have: usize,
        /// How many are needed (`ceil(n/2)`).
        need: usize,
    },
    /// Pay `amount`, which brings the device's paid total to `target` (the upper median of
    /// the reports). `amount` is 0 when the device was already paid `target` or more: a
    /// cumulative rule never takes back.
    Pay {
        /// The upper median of the reported cumulative totals.
        target: u128,
        /// `target - already_paid`, or 0.
        amount: u128,
    },
}

/// How many reports of `oracles` oracles a payment needs: `ceil(oracles / 2)`.
pub fn reports_needed(oracles: usize) -> usize {
    oracles.div_ceil(2)
}

/// The upper median of `values` (the element at index `len / 2` once sorted); `None` for no
/// values.
pub fn upper_median(values: &[u128]) -> Option<u128> {
    let mut sorted: Vec<u128> = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

/// The payment due to one device under the rule above: `oracles` is the size of the oracle
/// set, `reports` the cumulative totals the oracles that reported submitted (one per oracle;
/// deduplicating by oracle is the caller's job, as is checking each report's signature), and
/// `already_paid` the device's paid total. [`Error::InvalidParameter`] for an empty oracle
/// set or more reports than oracles.
pub fn median_payout(oracles: usize, reports: &[u128], already_paid: u128) -> Result<MedianPayout> {
    if oracles == 0 {
        return Err(Error::InvalidParameter(
            "an oracle set needs at least one oracle",
        ));
    }
    if reports.len() > oracles {
        return Err(Error::InvalidParameter("more reports than oracles"));
    }
    let need = reports_needed(oracles);
    if reports.len() < need {
        return Ok(MedianPayout::NotEnoughOracles {
            have: reports.len(),
            need,
        });
    }
    let target = upper_median(reports).ok_or(Error::InvalidParameter("no reports"))?;
    Ok(MedianPayout::Pay {
        target,
        amount: target.saturating_sub(already_paid),
    })
}
