//! Oracle quorums on the EVM distributor: `scheduleOracleSet` (admin, delayed),
//! `publishQuorumRoot` (anyone, with the oracles' signatures) and the views behind them.
//!
//! The contract checks each signature itself with `ecrecover` over the same digest
//! [`RootStatement::digest`] computes (SHA-256 of the depin-rs domain header for
//! `REWARD_ROOT` with the chain id, then the statement), so an EVM oracle is a secp256k1 key
//! and its on-chain name is that key's address.

use alloy::primitives::{Address, Bytes, FixedBytes, B256, U256};
use depin_core::{DeviceId, Epoch, KeyType, NetworkId};

use super::bindings::RewardDistributor;
use super::revert::Target;
use super::{device_address, from_alloy, recoverable, EvmBackend};
use crate::error::{Error, Result};
use crate::quorum::{OracleSet, Quorum, RootStatement};
use crate::types::{EpochRoot, PublishOutcome, TxHandle};

/// `RewardDistributor.ORACLE_SET_DELAY`: the least time between scheduling an oracle set
/// and its taking effect (2 days), as on the local ledger.
pub const ORACLE_SET_DELAY: u64 = 172_800;

/// The oracle set in effect on an EVM distributor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvmOracleSet {
    /// The oracles' addresses, in the order they were scheduled.
    pub oracles: Vec<depin_core::EvmAddress>,
    /// Signatures needed.
    pub threshold: u8,
    /// The network whose domain they sign in.
    pub network: NetworkId,
}

fn oracle_address(id: &DeviceId) -> Result<Address> {
    if id.key_type() != KeyType::Secp256k1 {
        return Err(Error::Unsupported(format!(
            "an EVM distributor checks oracle signatures with ecrecover: oracle keys are \
             secp256k1, not {}",
            id.key_type()
        )));
    }
    device_address(id)
}

impl EvmBackend {
    /// What the oracles sign for `root` on this distributor: the [`RootStatement`] naming
    /// its 20-byte address. Sign it in the network's domain with this chain's id
    /// (`Domain::new(network).with_chain_id(chain_id)`).
    pub fn root_statement(&self, root: &EpochRoot) -> RootStatement {
        RootStatement::new(
            self.inner.distributor.to_vec(),
            root.epoch,
            root.root,
            root.total,
        )
    }

    /// Schedule `set` (`scheduleOracleSet`, default admin only: [`Error::Unauthorized`]) as
    /// the oracles of `network` whose quorum publishes roots from `effective_at` (unix
    /// seconds, block time) on; from then on `publishRoot` by the single oracle is refused.
    /// `effective_at` must be at least [`ORACLE_SET_DELAY`] after the latest block and not
    /// before a set already in effect ([`Error::InvalidInput`], checked by the contract). The
    /// oracles must be secp256k1 keys ([`Error::Unsupported`] before anything is sent).
    pub async fn schedule_oracle_set(
        &self,
        network: &NetworkId,
        set: &OracleSet,
        effective_at: u64,
    ) -> Result<TxHandle> {
        let oracles = set
            .oracles()
            .map(oracle_address)
            .collect::<Result<Vec<_>>>()?;
        let threshold = u8::try_from(set.threshold())
            .map_err(|_| Error::InvalidInput("threshold above 255".into()))?;
        self.send(
            Target::Distributor,
            self.inner.distributor,
            RewardDistributor::scheduleOracleSetCall {
                networkId: Bytes::copy_from_slice(network.as_bytes()),
                oracles,
                threshold,
                effectiveAt: effective_at,
            },
        )
        .await
    }

    /// The oracle set in effect now (`oracleSet()`); `None` while the single oracle
    /// publishes.
    pub async fn evm_oracle_set(&self) -> Result<Option<EvmOracleSet>> {
        let r = self
            .view::<RewardDistributor::oracleSetCall>(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::oracleSetCall {},
            )
            .await?;
        if r.threshold == 0 {
            return Ok(None);
        }
        let network = std::str::from_utf8(&r.networkId)
            .ok()
            .and_then(|s| NetworkId::new(s).ok())
            .ok_or_else(|| Error::Corrupt("the distributor holds an invalid network id".into()))?;
        Ok(Some(EvmOracleSet {
            oracles: r.oracles.iter().map(|a| from_alloy(*a)).collect(),
            threshold: r.threshold,
            network,
        }))
    }

    /// The digest the contract checks the oracles' signatures against for (epoch, root,
    /// total) (`statementDigest`), `None` while no oracle set is in effect.
    pub async fn statement_digest(
        &self,
        epoch: Epoch,
        root: [u8; 32],
        total: u128,
    ) -> Result<Option<[u8; 32]>> {
        let d = self
            .view::<RewardDistributor::statementDigestCall>(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::statementDigestCall {
                    epoch: epoch.0,
                    root: FixedBytes(root),
                    total: U256::from(total),
                },
            )
            .await?;
        Ok((d != B256::ZERO).then_some(d.0))
    }

    /// `publishQuorumRoot` for [`crate::DistributorBackend::publish_quorum_root`], with the
    /// local ledger's rules checked before anything is sent: a statement for another
    /// distributor, or a signature that is not its signer's over the contract's digest, is
    /// [`Error::InvalidProof`]; a signer listed twice counts once (the contract then refuses
    /// too few distinct signers, and any signer outside the set, as `Unauthorized`).
    pub(super) async fn publish_quorum(&self, quorum: &Quorum) -> Result<PublishOutcome> {
        let statement = &quorum.statement;
        if statement.distributor.as_slice() != self.inner.distributor.as_slice() {
            return Err(Error::InvalidProof);
        }
        if quorum.signers.len() != quorum.signatures.len() {
            return Err(Error::InvalidInput(
                "a quorum has one signature per signer".into(),
            ));
        }
        let root = EpochRoot {
            epoch: statement.epoch,
            root: statement.root,
            total: statement.total,
        };
        root.check_publishable()?;
        if let Some(existing) =
            crate::backend::DistributorBackend::epoch_root(self, root.epoch).await?
        {
            return root.republish(&existing);
        }
        let digest = self
            .statement_digest(root.epoch, root.root, root.total)
            .await?
            .ok_or_else(|| {
                Error::Unsupported("no oracle set is in effect on this distributor".into())
            })?;
        let digest = B256::from(digest);
        // r || s || v per distinct signer, in increasing address order (what the contract
        // walks to refuse repeats cheaply)
        let mut signed: std::collections::BTreeMap<Address, Vec<u8>> = Default::default();
        for (id, sig) in quorum.signers.iter().zip(&quorum.signatures) {
            let address = oracle_address(id)?;
            let rsv = recoverable(sig, &digest, address).ok_or(Error::InvalidProof)?;
            signed.insert(address, rsv);
        }
        let signatures: Vec<u8> = signed.into_values().flatten().collect();
        let tx = self
            .send(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::publishQuorumRootCall {
                    epoch: root.epoch.0,
                    root: FixedBytes(root.root),
                    total: U256::from(root.total),
                    signatures: Bytes::from(signatures),
                },
            )
            .await?;
        Ok(PublishOutcome::Published(tx))
    }
}
