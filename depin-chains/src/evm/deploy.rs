//! Deployment helpers for tests, demos and fresh networks: deploy the committed contract
//! artifacts (`depin-chains/evm-artifacts/*.bin`) and fund the distributor.

use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::primitives::aliases::U48;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolConstructor};
use depin_core::EvmAddress;

use super::bindings::{
    DepinToken, DeviceRegistry, RewardDistributor, DEPIN_TOKEN_BIN, DEVICE_REGISTRY_BIN,
    REWARD_DISTRIBUTOR_BIN,
};
use super::revert::{rpc, Target};
use super::sender::{Sender, RECEIPT_POLL};
use super::{from_alloy, http_provider, local_signer, to_alloy};
use crate::config::SecretKeyBytes;
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// How long a deployment waits for each receipt.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(60);

/// The admin delay [`Deployer::deploy_all`] uses: 0 seconds, so tests and demos can hand the
/// admin role over at once (still in two steps). Production deployments should pass a real
/// delay to [`Deployer::deploy_all_with`].
pub const DEFAULT_ADMIN_DELAY: u64 = 0;

/// Largest admin delay the contracts accept (`uint48`).
pub const MAX_ADMIN_DELAY: u64 = (1 << 48) - 1;

fn admin_delay_u48(admin_delay: u64) -> Result<U48> {
    U48::try_from(admin_delay).map_err(|_| {
        Error::InvalidInput(format!(
            "admin delay {admin_delay} s is above the contracts' uint48 maximum {MAX_ADMIN_DELAY}"
        ))
    })
}

/// Addresses of one deployment of the three contracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// `DeviceRegistry` (the deployer is its default admin).
    pub registry: EvmAddress,
    /// `RewardDistributor` (the deployer is its default admin; the oracle was given
    /// `ORACLE_ROLE`, [`Deployment::guardian`] `GUARDIAN_ROLE`).
    pub distributor: EvmAddress,
    /// `DepinToken`, the ERC-20 the distributor pays (the deployer may mint).
    pub token: EvmAddress,
    /// The account holding the distributor's `GUARDIAN_ROLE` (may pause it).
    pub guardian: EvmAddress,
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

    /// Deploy `DeviceRegistry(adminDelay)`. The deployer becomes the single default admin; it
    /// can hand the role over only in two steps (`beginDefaultAdminTransfer`, then
    /// `acceptDefaultAdminTransfer` by the new admin) at least `admin_delay` seconds apart.
    /// [`DEFAULT_ADMIN_DELAY`] (0) suits tests and demos; a production network should use a
    /// delay long enough to notice and cancel a hijacked handover (for example a few days).
    ///
    /// Errors: [`Error::InvalidInput`] if `admin_delay` does not fit the contract's `uint48`.
    pub async fn deploy_registry(&self, admin_delay: u64) -> Result<EvmAddress> {
        let args = DeviceRegistry::constructorCall {
            adminDelay: admin_delay_u48(admin_delay)?,
        }
        .abi_encode();
        Ok(from_alloy(self.create(DEVICE_REGISTRY_BIN, args).await?))
    }

    /// Deploy `RewardDistributor(token, oracle, guardian, adminDelay)`. The deployer becomes the
    /// default admin (two-step handover after `admin_delay` seconds, as for
    /// [`Deployer::deploy_registry`]), `oracle` gets `ORACLE_ROLE` (publishes roots) and
    /// `guardian` gets `GUARDIAN_ROLE` (may pause claims and publication; only the admin
    /// unpauses).
    ///
    /// Errors: [`Error::InvalidInput`] if `admin_delay` does not fit the contract's `uint48`
    /// or `token`, `oracle` or `guardian` is the zero address (which the contract refuses), in
    /// both cases before anything is sent.
    pub async fn deploy_distributor(
        &self,
        token: EvmAddress,
        oracle: EvmAddress,
        guardian: EvmAddress,
        admin_delay: u64,
    ) -> Result<EvmAddress> {
        for (name, a) in [("token", token), ("oracle", oracle), ("guardian", guardian)] {
            if a.0 == [0u8; 20] {
                return Err(Error::InvalidInput(format!(
                    "the distributor's {name} must not be the zero address"
                )));
            }
        }
        let args = RewardDistributor::constructorCall {
            token_: to_alloy(&token),
            oracle: to_alloy(&oracle),
            guardian: to_alloy(&guardian),
            adminDelay: admin_delay_u48(admin_delay)?,
        }
        .abi_encode();
        Ok(from_alloy(self.create(REWARD_DISTRIBUTOR_BIN, args).await?))
    }

    /// Deploy all three contracts for tests and demos: `oracle` may publish roots, the
    /// **deployer** is the guardian (may pause the distributor) as well as the admin of both
    /// contracts, and the admin delay is [`DEFAULT_ADMIN_DELAY`] (0). Use
    /// [`Deployer::deploy_all_with`] to choose another guardian or delay.
    pub async fn deploy_all(&self, oracle: EvmAddress) -> Result<Deployment> {
        self.deploy_all_with(oracle, self.address(), DEFAULT_ADMIN_DELAY)
            .await
    }

    /// Deploy all three contracts: `oracle` may publish roots, `guardian` may pause the
    /// distributor, the deployer is the admin of both contracts and of the token, and handing
    /// the admin role over takes `admin_delay` seconds (see [`Deployer::deploy_registry`]).
    pub async fn deploy_all_with(
        &self,
        oracle: EvmAddress,
        guardian: EvmAddress,
        admin_delay: u64,
    ) -> Result<Deployment> {
        // checked before anything is deployed, so bad arguments leave no half deployment
        admin_delay_u48(admin_delay)?;
        for (name, a) in [("oracle", oracle), ("guardian", guardian)] {
            if a.0 == [0u8; 20] {
                return Err(Error::InvalidInput(format!(
                    "the distributor's {name} must not be the zero address"
                )));
            }
        }
        let token = self.deploy_token("Depin Reward", "DPR").await?;
        let registry = self.deploy_registry(admin_delay).await?;
        let distributor = self
            .deploy_distributor(token, oracle, guardian, admin_delay)
            .await?;
        Ok(Deployment {
            registry,
            distributor,
            token,
            guardian,
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
