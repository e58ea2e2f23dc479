//! A read-only view of a local ledger file, for the audits.
//!
//! `serve` holds the ledger's exclusive lock while it runs, so the audits (`recompute`,
//! `receipt`) cannot open the ledger as [`LocalLedger::open`] does. They read the file
//! instead ([`LocalLedger::read_entries`], which verifies checksums and takes no lock and
//! changes nothing): the published roots are all they need. Every write through this view
//! is refused.

use std::path::{Path, PathBuf};

use depin_chains::local::{Entry, LocalLedger};
use depin_chains::{
    Account, BackendKind, Claim, ClaimFormat, DeviceRegistration, EpochRoot, PublishOutcome,
    Receipt, RegisteredDevice, RegistrationChallenge, RegistrationProof, Result, TxHandle,
};
use depin_core::{DeviceId, Epoch};

/// The published roots of the ledger file at `path`, as a [`depin_chains::ChainBackend`] that only reads.
#[derive(Debug, Clone)]
pub(crate) struct LedgerView {
    path: PathBuf,
    format: ClaimFormat,
}

impl LedgerView {
    /// A view of the ledger at `path`, whose trees are in `format`.
    pub(crate) fn new(path: PathBuf, format: ClaimFormat) -> Self {
        LedgerView { path, format }
    }
}

/// Every root published on the ledger file at `path`, in order.
pub(crate) fn published_roots(path: &Path) -> Result<Vec<EpochRoot>> {
    let mut roots = Vec::new();
    for (_, entry) in LocalLedger::read_entries(path)? {
        if let Entry::Publish {
            epoch, root, total, ..
        } = entry
        {
            roots.push(EpochRoot {
                epoch: Epoch(epoch),
                root,
                total,
            });
        }
    }
    Ok(roots)
}

fn read_only(what: &str) -> depin_chains::Error {
    depin_chains::Error::Unsupported(format!(
        "{what}: the audit commands read the ledger file and never write to it"
    ))
}

#[depin_chains::async_trait]
impl depin_chains::ChainHandle for LedgerView {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    fn account(&self) -> Option<Account> {
        None
    }

    async fn wait_for_receipt(&self, _tx: &TxHandle) -> Result<Receipt> {
        Err(read_only("transaction receipts"))
    }
}

#[depin_chains::async_trait]
impl depin_chains::RegistryBackend for LedgerView {
    async fn registration_challenge(
        &self,
        _registration: &DeviceRegistration,
    ) -> Result<RegistrationChallenge> {
        Err(read_only("registration"))
    }

    async fn register_device(
        &self,
        _registration: &DeviceRegistration,
        _proof: &RegistrationProof,
    ) -> Result<TxHandle> {
        Err(read_only("registration"))
    }

    async fn revoke_device(&self, _device: &DeviceId) -> Result<TxHandle> {
        Err(read_only("revocation"))
    }

    async fn device(&self, _device: &DeviceId) -> Result<RegisteredDevice> {
        Err(read_only("device lookup"))
    }
}

#[depin_chains::async_trait]
impl depin_chains::DistributorBackend for LedgerView {
    fn claim_format(&self) -> ClaimFormat {
        self.format
    }

    async fn publish_root(&self, _root: &EpochRoot) -> Result<PublishOutcome> {
        Err(read_only("publishing a root"))
    }

    async fn epoch_root(&self, epoch: Epoch) -> Result<Option<EpochRoot>> {
        Ok(published_roots(&self.path)?
            .into_iter()
            .rfind(|r| r.epoch == epoch))
    }

    async fn claim(&self, _claim: &Claim) -> Result<TxHandle> {
        Err(read_only("claiming"))
    }

    async fn claimed(&self, _account: &Account) -> Result<u128> {
        Err(read_only("claimed totals"))
    }

    async fn pool_balance(&self) -> Result<Option<u128>> {
        Err(read_only("pool balance"))
    }

    async fn token_balance(&self, _account: &Account) -> Result<Option<u128>> {
        Err(read_only("token balance"))
    }
}
