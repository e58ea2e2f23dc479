//! Deployment helpers for tests, demos and fresh networks: deploy the committed contract
//! artifacts (`contracts/artifacts/*.bin`) and fund the distributor.

use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolConstructor};
use depin_core::EvmAddress;

use super::bindings::{
    DepinToken, RewardDistributor, DEPIN_TOKEN_BIN, DEVICE_REGISTRY_BIN, REWARD_DISTRIBUTOR_BIN,
};
use super::revert::{rpc, Target};
use super::sender::{Sender, RECEIPT_POLL};
use super::{from_alloy, http_provider, local_signer, to_alloy};
use crate::config::SecretKeyBytes;
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// How long a deployment waits for each receipt.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(60);

/// Addresses of one deployment of the three contracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// `DeviceRegistry` (the deployer is its admin).
    pub registry: EvmAddress,
    /// `RewardDistributor` (the deployer is its admin; the oracle was given `ORACLE_ROLE`).
    pub distributor: EvmAddress,
    /// `DepinToken`, the ERC-20 the distributor pays (the deployer may mint).
    pub token: EvmAddress,
}

/// Sends deployment and set-up transactions as one account.
pub struct Deployer {
    sender: Sender,
}

impl std::fmt::Debug for Deployer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployer")
            .field("account", &self.sender.from())
            .finish()
    }
}

fn bytecode(hex_text: &str) -> Result<Vec<u8>> {
    alloy::hex::decode(hex_text.trim())
        .map_err(|e| Error::Config(format!("contract artifact is not hex: {e}")))
}

impl Deployer {
    /// A deployer signing with `key`, talking to `rpc_url`.
    pub async fn new(
        rpc_url: &str,
        key: &SecretKeyBytes,
        retry_policy: RetryPolicy,
    ) -> Result<Self> {
        let provider = http_provider(rpc_url)?;
        let signer = local_signer(key)?;
        let from = signer.address();
        let chain_id = rpc(&retry_policy, Target::Other, || provider.get_chain_id()).await?;
        Ok(Deployer {
            sender: Sender::new(
                provider,
                EthereumWallet::from(signer),
                from,
                chain_id,
                retry_policy,
            ),
        })
    }

    /// The deployer's address.
    pub fn address(&self) -> EvmAddress {
        from_alloy(self.sender.from())
    }

    async fn wait(&self, hash: B256) -> Result<alloy::rpc::types::TransactionReceipt> {
        let started = Instant::now();
        loop {
            let r = rpc(self.sender.retry_policy(), Target::Other, || {
                self.sender.provider().get_transaction_receipt(hash)
            })
            .await?;
            if let Some(r) = r {
                if !r.status() {
                    return Err(Error::Reverted {
                        reason: format!("set-up transaction {hash} reverted"),
                    });
                }
                return Ok(r);
            }
            if started.elapsed() > DEPLOY_TIMEOUT {
                return Err(Error::transient(format!("no receipt for {hash}")));
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
    }

    async fn create(&self, code: &str, args: Vec<u8>) -> Result<Address> {
        let mut input = bytecode(code)?;
        input.extend_from_slice(&args);
        let hash = self.sender.send(Target::Other, None, input).await?;
        let r = self.wait(hash).await?;
        r.contract_address.ok_or_else(|| Error::Reverted {
            reason: format!("creation transaction {hash} has no contract address"),
        })
    }

    /// Deploy `DepinToken(name, symbol)`.
    pub async fn deploy_token(&self, name: &str, symbol: &str) -> Result<EvmAddress> {
        let args = DepinToken::constructorCall {
            name_: name.into(),
            symbol_: symbol.into(),
        }
        .abi_encode();
        Ok(from_alloy(self.create(DEPIN_TOKEN_BIN, args).await?))
    }

    /// Deploy `DeviceRegistry()`.
    pub async fn deploy_registry(&self) -> Result<EvmAddress> {
        Ok(from_alloy(
            self.create(DEVICE_REGISTRY_BIN, Vec::new()).await?,
        ))
    }

    /// Deploy `RewardDistributor(token, oracle)`.
    pub async fn deploy_distributor(
        &self,
        token: EvmAddress,
        oracle: EvmAddress,
    ) -> Result<EvmAddress> {
        let args = RewardDistributor::constructorCall {
            token_: to_alloy(&token),
            oracle: to_alloy(&oracle),
        }
        .abi_encode();
        Ok(from_alloy(self.create(REWARD_DISTRIBUTOR_BIN, args).await?))
    }

    /// Deploy all three contracts; `oracle` may publish roots.
    pub async fn deploy_all(&self, oracle: EvmAddress) -> Result<Deployment> {
        let token = self.deploy_token("Depin Reward", "DPR").await?;
        let registry = self.deploy_registry().await?;
        let distributor = self.deploy_distributor(token, oracle).await?;
        Ok(Deployment {
            registry,
            distributor,
            token,
        })
    }

    /// Mint `amount` of `token` to `to` (the deployer must own the token), and wait for it.
    /// Minting to the distributor funds payouts.
    pub async fn mint(&self, token: EvmAddress, to: EvmAddress, amount: u128) -> Result<()> {
        let call = DepinToken::mintCall {
            to: to_alloy(&to),
            amount: U256::from(amount),
        };
        let hash = self
            .sender
            .send(Target::Other, Some(to_alloy(&token)), call.abi_encode())
            .await?;
        self.wait(hash).await.map(|_| ())
    }
}
