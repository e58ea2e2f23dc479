//! Operations of the EVM backend beyond [`ChainBackend`]: the epoch-gap bound, the claim grace
//! period and the retry path of a claim built against a superseded root, published totals that
//! account for what was already claimed, the timelocked fund recovery, and the cancellation of a
//! device's outstanding permits (`useNonce`).
//!
//! The constants mirror the contracts' (`contracts/src/*.sol`); the anvil tests read them back
//! from the deployed contracts.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use depin_core::{DeviceId, Epoch};

use super::bindings::{DeviceRegistry, RewardDistributor};
use super::eip712::CancelNoncePermit;
use super::revert::{rpc, u256_to_u128, Target};
use super::{device_address, evm_account, from_alloy, EvmBackend};
use crate::backend::DistributorBackend;
use crate::claims::ClaimTree;
use crate::error::{Error, Result};
use crate::types::{Account, Claim, DeviceSigner, TxHandle};

/// `RewardDistributor.MAX_EPOCH_GAP`: a publication may move the epoch forward by at most this
/// much (`epoch <= latestEpoch() + 366`, and at most 366 for the first root).
pub const MAX_EPOCH_GAP: u64 = 366;
/// `RewardDistributor.CLAIM_GRACE_PERIOD`: seconds after a publication during which claims
/// against the previous root are still accepted (1 day).
pub const CLAIM_GRACE_PERIOD: u64 = 86_400;
/// `RewardDistributor.RECOVERY_DELAY`: seconds between `proposeRecovery` and the earliest
/// `executeRecovery` (7 days).
pub const RECOVERY_DELAY: u64 = 604_800;
/// `DeviceRegistry.MAX_PERMIT_LIFETIME`: the furthest a device-signed permit's deadline may lie
/// after the block that includes it (30 days). Sign deadlines well inside it (the time until
/// inclusion only shortens the remaining lifetime, it never makes a deadline too far).
pub const MAX_PERMIT_LIFETIME: u64 = 2_592_000;

/// Attempts of [`EvmBackend::claimable_roots`] to read a consistent set of roots while new
/// roots are being published.
const CONSISTENT_READ_ATTEMPTS: u32 = 3;

/// The previous root, still accepted by `claim` for the grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreviousRoot {
    /// Its epoch.
    pub epoch: Epoch,
    /// The root.
    pub root: [u8; 32],
    /// The last block timestamp (unix seconds) at which a claim against it is accepted:
    /// `latestPublishedAt() + CLAIM_GRACE_PERIOD`.
    pub claimable_until: u64,
}

/// The roots the distributor's `claim` accepts proofs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimableRoots {
    /// The latest epoch and root; `None` before the first publication.
    pub latest: Option<(Epoch, [u8; 32])>,
    /// The previous root with the end of its grace period, which may already have passed
    /// (compare [`PreviousRoot::claimable_until`] with the block time, or use
    /// [`ClaimableRoots::accepts`]); `None` when there is only one root, when
    /// `closeGracePeriod` was called, or when the latest root was published while paused.
    pub previous: Option<PreviousRoot>,
}

impl ClaimableRoots {
    /// Whether a proof against `root` can be accepted in a block with timestamp `at` (unix
    /// seconds): `root` is the latest root, or the previous one and `at <= claimable_until`.
    /// A proof against any other root is refused with [`Error::InvalidProof`]; rebuild it from
    /// the latest tree ([`EvmBackend::refresh_claim`]).
    pub fn accepts(&self, root: &[u8; 32], at: u64) -> bool {
        if self.latest.is_some_and(|(_, r)| r == *root) {
            return true;
        }
        self.previous
            .is_some_and(|p| p.root == *root && at <= p.claimable_until)
    }
}

/// A pending timelocked recovery of funds (`pendingRecovery()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRecovery {
    /// Recipient of the recovered tokens.
    pub to: Account,
    /// Amount, base units of the reward token.
    pub amount: u128,
    /// First block timestamp (unix seconds) at which `executeRecovery` may run.
    pub executable_at: u64,
}

impl EvmBackend {
    /// The timestamp (unix seconds) of the node's latest block: the clock the contracts'
    /// deadlines and grace periods are measured against (it may differ from the local clock).
    pub async fn latest_block_timestamp(&self) -> Result<u64> {
        let provider = self.inner.sender.provider();
        let policy = *self.inner.sender.retry_policy();
        let block = rpc(&policy, Target::Other, || {
            provider.get_block_by_number(BlockNumberOrTag::Latest)
        })
        .await?;
        block
            .map(|b| b.header.timestamp)
            .ok_or_else(|| Error::transient("the node returned no latest block"))
    }

    /// The highest epoch the distributor accepts next (`maxNextEpoch()`: `latestEpoch() +`
    /// [`MAX_EPOCH_GAP`], or [`MAX_EPOCH_GAP`] before the first root). [`crate::DistributorBackend::publish_root`]
    /// refuses a higher epoch with [`Error::EpochGapTooLarge`] before sending anything.
    pub async fn max_next_epoch(&self) -> Result<Epoch> {
        let v = self
            .view::<RewardDistributor::maxNextEpochCall>(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::maxNextEpochCall {},
            )
            .await?;
        Ok(Epoch(v))
    }

    /// The sum of everything paid by claims (`totalClaimed()`): no published total may be
    /// below it.
    pub async fn total_claimed(&self) -> Result<u128> {
        let v = self
            .view::<RewardDistributor::totalClaimedCall>(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::totalClaimedCall {},
            )
            .await?;
        u256_to_u128(v, "total claimed")
    }

    /// The `total` to publish with `tree`'s root: the sum over the tree's accounts of
    /// `max(cumulative amount, claimed(account))`.
    ///
    /// This is the publisher's responsibility, not the contract's: the distributor only checks
    /// that a total is at least `totalClaimed()` and caps claims at the latest total. When no
    /// account's amount was ever lowered below what it has claimed, it equals the plain sum of
    /// the tree's amounts. After a correction that lowers an account already paid more (a
    /// slashing, say), the plain sum is too small: honest claims of other accounts would then
    /// fail with `TotalExceeded` ([`Error::InvalidInput`]). Cumulative trees must keep every
    /// account that ever claimed.
    ///
    /// Reads `claimed(account)` once per entry (one `eth_call` each); an oracle that tracks
    /// `Claimed` events can compute the same sum itself. [`Error::InvalidInput`] if the tree is
    /// not in this backend's [`crate::DistributorBackend::claim_format`] or the sum overflows `u128`.
    pub async fn publishable_total(&self, tree: &ClaimTree) -> Result<u128> {
        if tree.format() != self.claim_format() {
            return Err(Error::InvalidInput(format!(
                "the tree is in format {:?}, this distributor needs {:?}",
                tree.format(),
                self.claim_format()
            )));
        }
        let mut total: u128 = 0;
        for (account, cumulative) in tree.entries() {
            let claimed = self.claimed(account).await?;
            total = total
                .checked_add((*cumulative).max(claimed))
                .ok_or_else(|| Error::InvalidInput("the tree's total overflows u128".into()))?;
        }
        Ok(total)
    }

    /// The roots `claim` accepts now: the latest one and, for [`CLAIM_GRACE_PERIOD`] after its
    /// publication, the previous one. Read in several calls; repeated (up to three times) if a
    /// publication lands in between.
    pub async fn claimable_roots(&self) -> Result<ClaimableRoots> {
        for _ in 0..CONSISTENT_READ_ATTEMPTS {
            let latest_root = self.latest_root().await?;
            if latest_root == B256::ZERO {
                return Ok(ClaimableRoots {
                    latest: None,
                    previous: None,
                });
            }
            let d = self.inner.distributor;
            let latest_epoch = self
                .view::<RewardDistributor::latestEpochCall>(
                    Target::Distributor,
                    d,
                    RewardDistributor::latestEpochCall {},
                )
                .await?;
            let previous_root = self
                .view::<RewardDistributor::previousRootCall>(
                    Target::Distributor,
                    d,
                    RewardDistributor::previousRootCall {},
                )
                .await?;
            let previous = if previous_root == B256::ZERO {
                None
            } else {
                let epoch = self
                    .view::<RewardDistributor::previousEpochCall>(
                        Target::Distributor,
                        d,
                        RewardDistributor::previousEpochCall {},
                    )
                    .await?;
                let claimable_until = self
                    .view::<RewardDistributor::previousRootClaimableUntilCall>(
                        Target::Distributor,
                        d,
                        RewardDistributor::previousRootClaimableUntilCall {},
                    )
                    .await?;
                Some(PreviousRoot {
                    epoch: Epoch(epoch),
                    root: previous_root.0,
                    claimable_until,
                })
            };
            if self.latest_root().await? == latest_root {
                return Ok(ClaimableRoots {
                    latest: Some((Epoch(latest_epoch), latest_root.0)),
                    previous,
                });
            }
        }
        Err(Error::transient(
            "new roots kept being published while the claimable roots were read",
        ))
    }

    /// The retry path of a claim refused with [`Error::InvalidProof`] after a root change.
    ///
    /// A claim built from one tree stays valid while that tree's root is the latest root, and
    /// for [`CLAIM_GRACE_PERIOD`] after the next root is published (claims against the previous
    /// root are accepted). Later (after the grace period, two publications on, after
    /// `closeGracePeriod`, or when the next root was published while paused) the same proof is
    /// refused with [`Error::InvalidProof`]: the claim is stale, not forged. Rebuild it from the
    /// latest tree and send it again; it pays `latest cumulative - claimed(account)`, so nothing
    /// is lost and nothing is paid twice:
    ///
    /// ```no_run
    /// # async fn demo(evm: &depin_chains::evm::EvmBackend, claim: depin_chains::Claim,
    /// #               latest_tree: &depin_chains::ClaimTree) -> depin_chains::Result<()> {
    /// use depin_chains::prelude::*;
    /// use depin_chains::Error;
    /// let tx = match evm.claim(&claim).await {
    ///     Err(Error::InvalidProof) => {
    ///         // `latest_tree` is the oracle's tree for the latest published epoch
    ///         let fresh = evm.refresh_claim(&claim.account, latest_tree).await?;
    ///         evm.claim(&fresh).await?
    ///     }
    ///     other => other?,
    /// };
    /// # let _ = tx; Ok(()) }
    /// ```
    ///
    /// This checks that `latest_tree`'s root is the distributor's latest root (else
    /// [`Error::InvalidInput`]: fetch the tree of the epoch [`ClaimableRoots::latest`] names;
    /// [`Error::NoRoot`] before any publication) and returns its claim for `account`
    /// ([`Error::NotFound`] if the account is not in it). A proof that fails against the latest
    /// tree too is genuinely invalid.
    pub async fn refresh_claim(&self, account: &Account, latest_tree: &ClaimTree) -> Result<Claim> {
        if latest_tree.format() != self.claim_format() {
            return Err(Error::InvalidInput(format!(
                "the tree is in format {:?}, this distributor needs {:?}",
                latest_tree.format(),
                self.claim_format()
            )));
        }
        let latest = self.latest_root().await?;
        if latest == B256::ZERO {
            return Err(Error::NoRoot);
        }
        let root = B256::from(latest_tree.root());
        if root != latest {
            return Err(Error::InvalidInput(format!(
                "the tree's root {root} is not the latest published root {latest}"
            )));
        }
        latest_tree.claim_for(account)
    }

    /// Stop accepting claims against the previous root now (`closeGracePeriod()`), for example
    /// right after publishing a correction that lowers an account. `ORACLE_ROLE` or
    /// `GUARDIAN_ROLE` ([`Error::Unauthorized`] otherwise); works while paused; a no-op without
    /// a previous root.
    pub async fn close_grace_period(&self) -> Result<TxHandle> {
        self.send(
            Target::Distributor,
            self.inner.distributor,
            RewardDistributor::closeGracePeriodCall {},
        )
        .await
    }

    /// Start a timelocked recovery of `amount` reward tokens to `to` (`proposeRecovery`), for
    /// example to move the pool to a replacement distributor. Default admin only
    /// ([`Error::Unauthorized`]), only while paused ([`Error::InvalidInput`] "not paused");
    /// a zero amount or an already pending recovery is [`Error::InvalidInput`]. Executable
    /// [`RECOVERY_DELAY`] later with [`EvmBackend::execute_recovery`], if still paused;
    /// unpausing cancels it.
    pub async fn propose_recovery(&self, to: &Account, amount: u128) -> Result<TxHandle> {
        let to = evm_account(to)?;
        self.send(
            Target::Distributor,
            self.inner.distributor,
            RewardDistributor::proposeRecoveryCall {
                to,
                amount: U256::from(amount),
            },
        )
        .await
    }

    /// Cancel the pending recovery (`cancelRecovery`): the default admin or a guardian
    /// ([`Error::Unauthorized`] otherwise); [`Error::NotFound`] if none is pending.
    pub async fn cancel_recovery(&self) -> Result<TxHandle> {
        self.send(
            Target::Distributor,
            self.inner.distributor,
            RewardDistributor::cancelRecoveryCall {},
        )
        .await
    }

    /// Execute the pending recovery (`executeRecovery`): default admin only, while paused,
    /// from its `executable_at` ([`Error::InvalidInput`] before it or when not paused,
    /// [`Error::NotFound`] if none is pending, [`Error::InsufficientFunds`] if the pool holds
    /// less).
    pub async fn execute_recovery(&self) -> Result<TxHandle> {
        self.send(
            Target::Distributor,
            self.inner.distributor,
            RewardDistributor::executeRecoveryCall {},
        )
        .await
    }

    /// The pending recovery (`pendingRecovery()`), `None` if there is none.
    pub async fn pending_recovery(&self) -> Result<Option<PendingRecovery>> {
        let r = self
            .view::<RewardDistributor::pendingRecoveryCall>(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::pendingRecoveryCall {},
            )
            .await?;
        if r.to == Address::ZERO {
            return Ok(None);
        }
        Ok(Some(PendingRecovery {
            to: Account::Evm(from_alloy(r.to)),
            amount: u256_to_u128(r.amount, "recovery amount")?,
            executable_at: r.executableAt,
        }))
    }

    /// The nonce the device's next permit must carry (`nonces(device)`): registrations and
    /// cancellations both advance it.
    pub async fn device_nonce(&self, device: &DeviceId) -> Result<U256> {
        let device = device_address(device)?;
        self.view::<DeviceRegistry::noncesCall>(
            Target::Registry,
            self.inner.registry,
            DeviceRegistry::noncesCall { device },
        )
        .await
    }

    /// `MAX_PERMIT_LIFETIME()` as the deployed registry has it (seconds; [`MAX_PERMIT_LIFETIME`]
    /// for the contracts of this repository).
    pub async fn max_permit_lifetime(&self) -> Result<u64> {
        let v = self
            .view::<DeviceRegistry::MAX_PERMIT_LIFETIMECall>(
                Target::Registry,
                self.inner.registry,
                DeviceRegistry::MAX_PERMIT_LIFETIMECall {},
            )
            .await?;
        Ok(u64::try_from(v).unwrap_or(u64::MAX))
    }

    /// The cancellation of `device`'s current nonce with `deadline` (unix seconds), for a
    /// device that signs elsewhere: sign [`EvmBackend::cancel_nonce_digest`] of it with the
    /// device key, then send it with [`EvmBackend::use_nonce`]. Secp256k1 devices only
    /// ([`Error::Unsupported`]).
    pub async fn cancel_nonce_permit(
        &self,
        device: &DeviceId,
        deadline: u64,
    ) -> Result<CancelNoncePermit> {
        super::require_secp256k1(device)?;
        let nonce = self.device_nonce(device).await?;
        Ok(CancelNoncePermit {
            device: device_address(device)?,
            nonce,
            deadline: U256::from(deadline),
        })
    }

    /// The EIP-712 digest of `permit` under this registry's domain: what the device key signs
    /// (recoverable, `r || s || v` with `v` in {27, 28}, low S).
    pub fn cancel_nonce_digest(&self, permit: &CancelNoncePermit) -> [u8; 32] {
        permit.digest(self.inner.chain_id, self.inner.registry).0
    }

    /// Void every outstanding permit of the device signed for its current nonce (for example
    /// the previous owner's unused registration permit after a resale): signs a `CancelNonce`
    /// for `nonces(device)` with `signer` (the device key) and sends `useNonce`. Anyone may
    /// send it; only the device key can sign it. Afterwards `nonces(device)` is one higher, and
    /// a stale permit is refused with [`Error::InvalidProof`]. Cancel *before* handing the
    /// device over: a stale permit mined first cannot be undone.
    ///
    /// Errors before anything is signed or sent: [`Error::Unsupported`] for a non-secp256k1
    /// signer, [`Error::DeadlineTooFar`] for a deadline more than [`MAX_PERMIT_LIFETIME`] after
    /// the latest block. From the contract: [`Error::Expired`], [`Error::InvalidInput`] if the
    /// nonce moved in between (a race; call again).
    pub async fn cancel_nonce(&self, signer: &dyn DeviceSigner, deadline: u64) -> Result<TxHandle> {
        let permit = self
            .cancel_nonce_permit(&signer.device_id(), deadline)
            .await?;
        self.check_permit_deadline(permit.deadline).await?;
        let signature = signer.sign_digest_recoverable(&self.cancel_nonce_digest(&permit))?;
        self.send_use_nonce(&permit, &signature).await
    }

    /// Send a nonce cancellation signed elsewhere (`useNonce(device, nonce, deadline,
    /// signature)`). [`Error::DeadlineTooFar`] is checked before sending; the contract refuses a
    /// wrong signature ([`Error::InvalidProof`]), a nonce that is not the current one
    /// ([`Error::InvalidInput`], also for a replay) and a passed deadline ([`Error::Expired`]).
    pub async fn use_nonce(
        &self,
        permit: &CancelNoncePermit,
        signature: &[u8; 65],
    ) -> Result<TxHandle> {
        self.check_permit_deadline(permit.deadline).await?;
        self.send_use_nonce(permit, signature).await
    }

    async fn send_use_nonce(
        &self,
        permit: &CancelNoncePermit,
        signature: &[u8; 65],
    ) -> Result<TxHandle> {
        self.send(
            Target::Registry,
            self.inner.registry,
            DeviceRegistry::useNonceCall {
                device: permit.device,
                nonce: permit.nonce,
                deadline: permit.deadline,
                signature: signature.to_vec().into(),
            },
        )
        .await
    }

    /// [`Error::DeadlineTooFar`] unless `deadline <= latest block timestamp +`
    /// [`MAX_PERMIT_LIFETIME`]. The including block is never earlier than the latest one, so a
    /// deadline that passes here is never too far for the contract.
    pub(crate) async fn check_permit_deadline(&self, deadline: U256) -> Result<()> {
        let now = self.latest_block_timestamp().await?;
        let max = now.saturating_add(MAX_PERMIT_LIFETIME);
        if deadline > U256::from(max) {
            return Err(Error::DeadlineTooFar {
                deadline: u64::try_from(deadline).unwrap_or(u64::MAX),
                max,
            });
        }
        Ok(())
    }

    /// `latestRoot()`, zero before the first publication.
    async fn latest_root(&self) -> Result<B256> {
        self.view::<RewardDistributor::latestRootCall>(
            Target::Distributor,
            self.inner.distributor,
            RewardDistributor::latestRootCall {},
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimable_roots_accept_the_latest_and_the_previous_within_its_grace_period() {
        let none = ClaimableRoots {
            latest: None,
            previous: None,
        };
        assert!(!none.accepts(&[1; 32], 0));
        let roots = ClaimableRoots {
            latest: Some((Epoch(3), [3; 32])),
            previous: Some(PreviousRoot {
                epoch: Epoch(2),
                root: [2; 32],
                claimable_until: 1_000,
            }),
        };
        assert!(roots.accepts(&[3; 32], u64::MAX));
        assert!(roots.accepts(&[2; 32], 1_000));
        assert!(!roots.accepts(&[2; 32], 1_001));
        assert!(!roots.accepts(&[1; 32], 0));
        let closed = ClaimableRoots {
            previous: None,
            ..roots
        };
        assert!(!closed.accepts(&[2; 32], 0));
    }

    #[test]
    fn constants_are_the_contracts() {
        assert_eq!(MAX_PERMIT_LIFETIME, 30 * 24 * 3600);
        assert_eq!(CLAIM_GRACE_PERIOD, 24 * 3600);
        assert_eq!(RECOVERY_DELAY, 7 * 24 * 3600);
        assert_eq!(MAX_EPOCH_GAP, 366);
    }
}
