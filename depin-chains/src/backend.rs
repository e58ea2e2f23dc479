//! The chain traits every backend implements, by role: [`ChainHandle`] (the account and its
//! transactions), [`RegistryBackend`] (devices and makers), [`DistributorBackend`] (roots and
//! claims), and [`ChainBackend`], both roles together.

use async_trait::async_trait;
use depin_core::{DeviceId, Epoch};

use crate::error::Result;
use crate::makers::{
    HardwareEvidence, Maker, MakerAttestation, MakerRecord, OnMakerRevoked, Onboarding,
    OnboardingChallenge,
};
use crate::types::{
    Account, BackendKind, Claim, ClaimFormat, DeviceRegistration, DeviceSigner, EpochRoot,
    PublishOutcome, Receipt, RegisteredDevice, RegistrationChallenge, RegistrationProof, TxHandle,
};

/// A handle on a chain acting as one account: what every role shares.
///
/// Write operations check everything the chain would check *before* submitting (backends
/// simulate the call), so expected failures come back as typed errors from the call itself;
/// on success they return a [`TxHandle`] to pass to [`crate::ChainHandle::wait_for_receipt`].
/// Retryable transport failures are retried with backoff inside the backend
/// ([`crate::retry()`]); the error that escapes is the last one.
#[async_trait]
pub trait ChainHandle: Send + Sync {
    /// Which kind of chain this is.
    fn kind(&self) -> BackendKind;

    /// The account this handle submits transactions as, if it has one.
    fn account(&self) -> Option<Account>;

    /// Wait until the transaction is final enough for the backend's configuration and return
    /// its receipt ([`crate::Error::NotFound`] for an unknown handle,
    /// [`crate::Error::Transport`] with `retryable: true` on timeout).
    async fn wait_for_receipt(&self, tx: &TxHandle) -> Result<Receipt>;
}

/// The device-registry role of a chain: devices (registration, revocation, lookup) and the
/// makers that onboard them ([`crate::makers`]). A backend or a test may offer this role
/// alone (a registry-only chain, a verifier that only follows registrations:
/// [`crate::ChainRegistry`] needs nothing else).
#[async_trait]
pub trait RegistryBackend: ChainHandle {
    /// What the device key must sign to authorise `registration` on this chain.
    ///
    /// # The registration nonce (every backend)
    /// The challenge binds the registration (device, owner, metadata hash, deadline) to
    /// this backend (its network id and chain, or ledger id, or EIP-712 domain with chain id
    /// and registry address) and to the device's **current registration nonce**, which the
    /// backend keeps per device:
    /// - it starts at 0 for a device never seen, and is read when the challenge is made
    ///   (so a challenge is valid for one registration state only);
    /// - it moves on by one when a proof is consumed or voided: a registration, and (where
    ///   the backend offers it: the local ledger, the EVM registry's `useNonce`) a nonce
    ///   cancellation signed by the device key, which voids every proof signed for the old
    ///   nonce; the local ledger also moves it on a revocation (the EVM registry need not: a
    ///   revoked device can never register again, [`crate::Error::AlreadyRegistered`]);
    /// - [`crate::RegistryBackend::register_device`] verifies the proof against the challenge
    ///   recomputed with the nonce *at execution*, so a proof made before any such change
    ///   is [`crate::Error::InvalidProof`], and a proof is never usable twice.
    ///
    /// The local ledger keeps it in the ledger (`LocalLedger::registration_nonce`), the EVM
    /// registry in the contract (`nonces(device)`), the Cosmos registry in its state.
    async fn registration_challenge(
        &self,
        registration: &DeviceRegistration,
    ) -> Result<RegistrationChallenge>;

    /// Register a device. Errors: [`crate::Error::InvalidProof`] (signature not by the device
    /// key, or over other data), [`crate::Error::AlreadyRegistered`] (also after revocation),
    /// [`crate::Error::Expired`], [`crate::Error::Unsupported`] (key type the chain cannot
    /// verify).
    async fn register_device(
        &self,
        registration: &DeviceRegistration,
        proof: &RegistrationProof,
    ) -> Result<TxHandle>;

    /// Revoke a device; allowed to its owner and to network admins. Errors:
    /// [`crate::Error::NotFound`], [`crate::Error::Unauthorized`],
    /// [`crate::Error::AlreadyRevoked`].
    async fn revoke_device(&self, device: &DeviceId) -> Result<TxHandle>;

    /// Look a device up ([`crate::Error::NotFound`] if it was never registered).
    async fn device(&self, device: &DeviceId) -> Result<RegisteredDevice>;

    /// Approve a maker to onboard devices (network admin only, [`crate::Error::Unauthorized`]
    /// otherwise; a key already approved or revoked is [`crate::Error::AlreadyRegistered`]).
    /// See [`crate::makers`]. Default: [`crate::Error::Unsupported`] (a backend without
    /// makers).
    async fn approve_maker(&self, maker: &Maker) -> Result<TxHandle> {
        let _ = maker;
        Err(crate::Error::Unsupported(format!(
            "{:?} backend has no makers",
            self.kind()
        )))
    }

    /// Revoke a maker (network admin only): it onboards nothing more, and with
    /// [`OnMakerRevoked::SuspendDevices`] its devices read as inactive. Errors:
    /// [`crate::Error::NotFound`], [`crate::Error::AlreadyRevoked`],
    /// [`crate::Error::Unauthorized`]. Default: [`crate::Error::Unsupported`].
    async fn revoke_maker(&self, maker: &DeviceId, on_revoked: OnMakerRevoked) -> Result<TxHandle> {
        let _ = (maker, on_revoked);
        Err(crate::Error::Unsupported(format!(
            "{:?} backend has no makers",
            self.kind()
        )))
    }

    /// A maker's record ([`crate::Error::NotFound`] if never approved). Default:
    /// [`crate::Error::Unsupported`].
    async fn maker(&self, maker: &DeviceId) -> Result<MakerRecord> {
        let _ = maker;
        Err(crate::Error::Unsupported(format!(
            "{:?} backend has no makers",
            self.kind()
        )))
    }

    /// Choose who may join (network admin only). Default: [`crate::Error::Unsupported`].
    async fn set_onboarding(&self, onboarding: Onboarding) -> Result<TxHandle> {
        let _ = onboarding;
        Err(crate::Error::Unsupported(format!(
            "{:?} backend has no makers",
            self.kind()
        )))
    }

    /// What `maker` and the device must sign to onboard `registration`, for the device's
    /// current registration nonce (see [`crate::RegistryBackend::registration_challenge`] for the
    /// nonce's contract). Default: [`crate::Error::Unsupported`].
    async fn onboarding_challenge(
        &self,
        registration: &DeviceRegistration,
        maker: &DeviceId,
    ) -> Result<OnboardingChallenge> {
        let _ = (registration, maker);
        Err(crate::Error::Unsupported(format!(
            "{:?} backend has no makers",
            self.kind()
        )))
    }

    /// Onboard a device through its maker: the maker's attestation and the device's own
    /// proof (where [`OnboardingChallenge::device`] asks for one; a backend that can check the
    /// device's key type refuses a missing one with [`crate::Error::InvalidProof`]), both for
    /// the challenge at execution, and optionally hardware evidence for the
    /// challenge's `evidence_nonce`, checked by the registry's verifier of its kind. The
    /// device is recorded with [`crate::makers::TrustLevel::Maker`], or
    /// [`crate::makers::TrustLevel::Hardware`] with accepted evidence. Errors as
    /// [`crate::RegistryBackend::register_device`], plus [`crate::Error::NotFound`] (unknown maker),
    /// [`crate::Error::Unauthorized`] (revoked maker), [`crate::Error::QuotaExceeded`],
    /// [`crate::Error::Evidence`]. Default: [`crate::Error::Unsupported`].
    async fn onboard_device(
        &self,
        registration: &DeviceRegistration,
        attestation: &MakerAttestation,
        device_proof: Option<&RegistrationProof>,
        evidence: Option<&HardwareEvidence>,
    ) -> Result<TxHandle> {
        let _ = (registration, attestation, device_proof, evidence);
        Err(crate::Error::Unsupported(format!(
            "{:?} backend has no makers",
            self.kind()
        )))
    }

    /// Convenience: get the challenge, sign it with `signer`, register.
    async fn register_with_signer(
        &self,
        registration: &DeviceRegistration,
        signer: &dyn DeviceSigner,
    ) -> Result<TxHandle> {
        let challenge = self.registration_challenge(registration).await?;
        let proof = challenge.sign(signer)?;
        self.register_device(registration, &proof).await
    }
}

/// The reward-distribution role of a chain: epoch roots, cumulative claims and the pool. A
/// backend or a test may offer this role alone (a distributor on another chain than the
/// registry).
#[async_trait]
pub trait DistributorBackend: ChainHandle {
    /// The Merkle tree format [`crate::DistributorBackend::claim`] proofs must be in.
    fn claim_format(&self) -> ClaimFormat;

    /// Publish an epoch's claim root; oracle only ([`crate::Error::Unauthorized`]). The same
    /// root and total again is a no-op ([`PublishOutcome::AlreadyPublished`]); anything else
    /// for a published epoch is [`crate::Error::EpochAlreadyPublished`]; an unpublished epoch
    /// not after the latest is [`crate::Error::EpochNotIncreasing`]; a zero root is
    /// [`crate::Error::InvalidInput`].
    async fn publish_root(&self, root: &EpochRoot) -> Result<PublishOutcome>;

    /// Publish the root a quorum of the distributor's oracles signed
    /// ([`crate::quorum::OracleSet::tally`]). Anyone may submit it: the distributor checks
    /// every signature itself (each signer in its oracle set, distinct, at least the
    /// threshold; [`crate::Error::InvalidProof`] for a signature that does not verify,
    /// [`crate::Error::Unauthorized`] for a non-oracle or too few), then applies the rules
    /// of [`DistributorBackend::publish_root`]. The default is
    /// [`crate::Error::Unsupported`]: a distributor without oracle quorums.
    async fn publish_quorum_root(&self, quorum: &crate::quorum::Quorum) -> Result<PublishOutcome> {
        let _ = quorum;
        Err(crate::Error::Unsupported(
            "this distributor takes roots from one oracle, not a quorum".into(),
        ))
    }

    /// The root published for `epoch`, if any.
    async fn epoch_root(&self, epoch: Epoch) -> Result<Option<EpochRoot>>;

    /// Claim against the latest root; pays `cumulative_amount - claimed(account)` to the
    /// account. Errors: [`crate::Error::NoRoot`], [`crate::Error::InvalidProof`],
    /// [`crate::Error::AlreadyClaimed`], [`crate::Error::InsufficientFunds`].
    async fn claim(&self, claim: &Claim) -> Result<TxHandle>;

    /// Total paid to `account` so far, base units.
    async fn claimed(&self, account: &Account) -> Result<u128>;

    /// Tokens the distributor holds for payouts, if the backend models a funded pool.
    async fn pool_balance(&self) -> Result<Option<u128>>;

    /// Reward-token balance of `account`, if the backend models token balances.
    async fn token_balance(&self, account: &Account) -> Result<Option<u128>>;

    /// Add `amount` base units of the reward token to the distributor's pool, from this
    /// handle's account: part of the distributor role, so a program holding an
    /// `Arc<dyn ChainBackend>` can fund whichever backend it was given. The local ledger
    /// lets its admin add them; the EVM backend transfers them from the caller's token
    /// balance (`transfer` to the distributor). Default, and backends that fund otherwise
    /// (none among the built-ins: the Cosmos backend makes a cw20 `transfer` to the
    /// distributor):
    /// [`crate::Error::Unsupported`].
    async fn fund_pool(&self, amount: u128) -> Result<TxHandle> {
        let _ = amount;
        Err(crate::Error::Unsupported(
            "this backend's pool is not funded through the trait".into(),
        ))
    }
}

/// One chain (local ledger, EVM, Cosmos) behind one object-safe async interface: both roles,
/// [`RegistryBackend`] and [`DistributorBackend`], on one [`ChainHandle`]. Implemented for
/// every type that implements both: a backend implements the three role traits, never this
/// one.
///
/// A value is a *handle acting as one account* ([`crate::ChainHandle::account`]): it signs and
/// submits transactions as that account, and role checks (admin, oracle, device owner) apply
/// to it. Use it as `Arc<dyn ChainBackend>`; pick the implementation at run time with
/// [`crate::connect`]. An `Arc<dyn ChainBackend>` coerces to `Arc<dyn RegistryBackend>` or
/// `Arc<dyn DistributorBackend>` where only one role is needed.
///
/// Bring the traits into scope with `use depin_chains::prelude::*` to call them on a
/// concrete backend type.
pub trait ChainBackend: RegistryBackend + DistributorBackend {}

impl<T: RegistryBackend + DistributorBackend + ?Sized> ChainBackend for T {}
