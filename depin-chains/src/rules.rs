//! The rules every backend applies, in the same order, as public functions with their
//! contracts: the local ledger calls them, and a backend written outside the SDK calls the
//! same ones (the conformance suite checks their outcomes). Their errors are the EVM
//! contracts' own: a backend that uses them refuses what `RewardDistributor` and
//! `DeviceRegistry` refuse, with the same typed errors.

use depin_core::Epoch;

use crate::error::{Error, Result};
use crate::types::{EpochRoot, PublishOutcome};

/// How far one publication may move the epoch forward, as `RewardDistributor.MAX_EPOCH_GAP`:
/// an epoch above `latest + MAX_EPOCH_GAP` (above `MAX_EPOCH_GAP` for the first root) is
/// refused. 366: a year of daily epochs.
pub const MAX_EPOCH_GAP: u64 = 366;

/// The furthest a signed deadline (registration or nonce cancellation) may lie after now, as
/// `DeviceRegistry.MAX_PERMIT_LIFETIME` (30 days).
pub const MAX_PERMIT_LIFETIME_SECS: u64 = 30 * 86_400;

/// What a publication of `root` must do, given what the backend holds: `published`, the
/// root already published for `root.epoch` (if any); `latest`, the latest published root
/// (if any); `total_claimed`, what the distributor has paid in all. In this order:
///
/// 1. a zero root is [`Error::InvalidInput`] (an empty tree, or a caller's mistake);
/// 2. an epoch already published: the same root and total is
///    `Ok(Some(`[`PublishOutcome::AlreadyPublished`]`))` (idempotent: change nothing),
///    anything else [`Error::EpochAlreadyPublished`];
/// 3. an epoch not after the latest is [`Error::EpochNotIncreasing`] (epochs may skip);
/// 4. an epoch more than [`MAX_EPOCH_GAP`] above the latest (above `MAX_EPOCH_GAP` for the
///    first root) is [`Error::EpochGapTooLarge`];
/// 5. a total below `total_claimed` is [`Error::InvalidInput`] (`TotalBelowClaimed`: a
///    total counts what was already paid, so it may go down, never below that).
///
/// `Ok(None)`: publish it. The caller checks the oracle role first
/// ([`Error::Unauthorized`]).
///
/// ```
/// use depin_chains::rules::check_publication;
/// use depin_chains::{EpochRoot, Error, PublishOutcome};
/// use depin_core::Epoch;
/// let first = EpochRoot { epoch: Epoch(1), root: [1; 32], total: 10 };
/// assert_eq!(check_publication(&first, None, None, 0).unwrap(), None);
/// assert_eq!(
///     check_publication(&first, Some(&first), Some(&first), 0).unwrap(),
///     Some(PublishOutcome::AlreadyPublished)
/// );
/// let older = EpochRoot { epoch: Epoch(0), ..first };
/// assert!(matches!(
///     check_publication(&older, None, Some(&first), 0),
///     Err(Error::EpochNotIncreasing { .. })
/// ));
/// ```
pub fn check_publication(
    root: &EpochRoot,
    published: Option<&EpochRoot>,
    latest: Option<&EpochRoot>,
    total_claimed: u128,
) -> Result<Option<PublishOutcome>> {
    root.check_publishable()?;
    if let Some(existing) = published {
        return root.republish(existing).map(Some);
    }
    if let Some(latest) = latest {
        if root.epoch.0 <= latest.epoch.0 {
            return Err(Error::EpochNotIncreasing {
                epoch: root.epoch,
                latest: latest.epoch,
            });
        }
    }
    let latest_epoch = latest.map_or(0, |l| l.epoch.0);
    if root.epoch.0 > latest_epoch.saturating_add(MAX_EPOCH_GAP) {
        return Err(Error::EpochGapTooLarge {
            epoch: root.epoch,
            max: Epoch(latest_epoch.saturating_add(MAX_EPOCH_GAP)),
        });
    }
    if root.total < total_claimed {
        return Err(Error::InvalidInput(format!(
            "total {} of epoch {} is below the total already claimed {total_claimed} (a \
             total is the sum over the tree of max(cumulative, claimed))",
            root.total, root.epoch.0
        )));
    }
    Ok(None)
}

/// A signed deadline (unix seconds) at `now`: [`Error::Expired`] once it has passed,
/// [`Error::DeadlineTooFar`] when it lies more than [`MAX_PERMIT_LIFETIME_SECS`] after
/// `now` (a permit must not stay usable for ever).
///
/// ```
/// use depin_chains::rules::{check_deadline, MAX_PERMIT_LIFETIME_SECS};
/// assert!(check_deadline(100, 50).is_ok());
/// assert!(check_deadline(49, 50).is_err());
/// assert!(check_deadline(50 + MAX_PERMIT_LIFETIME_SECS + 1, 50).is_err());
/// ```
pub fn check_deadline(deadline: u64, now: u64) -> Result<()> {
    if deadline < now {
        return Err(Error::Expired { deadline });
    }
    let max = now.saturating_add(MAX_PERMIT_LIFETIME_SECS);
    if deadline > max {
        return Err(Error::DeadlineTooFar { deadline, max });
    }
    Ok(())
}

/// Whether the maker named `maker` may onboard one more device, given its record (`None`:
/// never approved), as `DeviceRegistry.onboard` checks it before any signature: an unknown
/// maker is [`Error::NotFound`], a revoked one [`Error::Unauthorized`], one that onboarded
/// its whole quota [`Error::QuotaExceeded`].
///
/// ```
/// use depin_chains::makers::{Maker, MakerRecord};
/// use depin_chains::rules::check_maker_may_onboard;
/// use depin_chains::Error;
/// # let key = depin_core::DeviceId::from(depin_core::SigningKey::from_secret_bytes(
/// #     depin_core::KeyType::Ed25519, &[1; 32]).unwrap().public_key());
/// let mut record = MakerRecord { maker: Maker::new(key, "acme", 1), onboarded: 0, active: true, devices_suspended: false };
/// assert!(check_maker_may_onboard(&key, Some(&record)).is_ok());
/// record.onboarded = 1;
/// assert!(matches!(check_maker_may_onboard(&key, Some(&record)), Err(Error::QuotaExceeded { quota: 1, .. })));
/// assert!(matches!(check_maker_may_onboard(&key, None), Err(Error::NotFound(_))));
/// ```
pub fn check_maker_may_onboard(
    maker: &depin_core::DeviceId,
    record: Option<&crate::makers::MakerRecord>,
) -> Result<()> {
    let record = record.ok_or_else(|| Error::NotFound(format!("maker {maker}")))?;
    if !record.active {
        return Err(Error::Unauthorized(format!("maker {maker} was revoked")));
    }
    if record.onboarded >= record.maker.quota {
        return Err(Error::QuotaExceeded {
            maker: maker.to_string(),
            quota: record.maker.quota,
        });
    }
    Ok(())
}
