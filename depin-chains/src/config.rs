//! Run-time backend selection.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use depin_core::EvmAddress;
use zeroize::Zeroize;

use crate::backend::ChainBackend;
use crate::error::Error;
use crate::error::Result;
use crate::retry::RetryPolicy;
use crate::types::{Account, ClaimFormat};

/// A 32-byte secret (transaction signing key). `Debug` never prints it; it is zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKeyBytes(pub [u8; 32]);

impl fmt::Debug for SecretKeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKeyBytes(<redacted>)")
    }
}

impl Drop for SecretKeyBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Which chain to use, and how to reach it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum BackendConfig {
    /// The embedded local ledger (feature `local`).
    Local(LocalConfig),
    /// An EVM chain (feature `evm`).
    Evm(EvmConfig),
    /// A Cosmos SDK chain with CosmWasm (feature `cosmos`).
    Cosmos(CosmosConfig),
    /// A backend written outside the SDK: [`connect`] calls its constructor, so a program
    /// that picks its chain from configuration treats it like a built-in one.
    Custom(CustomConfig),
}

/// The future a [`CustomConfig`] constructor returns.
pub type ConnectFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn ChainBackend>>> + Send>>;

/// A backend written outside the SDK, by name and constructor (see
/// [`BackendConfig::Custom`]).
///
/// ```
/// use std::sync::Arc;
/// use depin_chains::{connect, BackendConfig, ChainBackend, CustomConfig};
/// # fn my_backend() -> depin_chains::Result<Arc<dyn ChainBackend>> {
/// #     Err(depin_chains::Error::Unsupported("example".into()))
/// # }
/// let config = BackendConfig::Custom(CustomConfig::new("sqlite-chain", || async {
///     // open the integrator's own backend here
///     my_backend()
/// }));
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// assert!(rt.block_on(connect(&config)).is_err());
/// ```
#[derive(Clone)]
pub struct CustomConfig {
    /// The backend's name, as its [`crate::ChainHandle::kind`] reports it
    /// ([`crate::BackendKind::Custom`]).
    pub name: &'static str,
    constructor: Arc<dyn Fn() -> ConnectFuture + Send + Sync>,
}

impl CustomConfig {
    /// A backend called `name`, built by `constructor` each time [`connect`] is called.
    pub fn new<F, Fut>(name: &'static str, constructor: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Arc<dyn ChainBackend>>> + Send + 'static,
    {
        CustomConfig {
            name,
            constructor: Arc::new(move || -> ConnectFuture { Box::pin(constructor()) }),
        }
    }
}

impl fmt::Debug for CustomConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomConfig")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Local ledger settings.
///
/// A ledger file is locked by the process that opens it, so [`connect`] gives one handle per
/// file; for several accounts on one ledger, open a [`crate::local::LocalLedger`] and call
/// `handle(account)` for each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalConfig {
    /// The ledger file (created if missing).
    pub path: PathBuf,
    /// The network id of the registration signing domain (`[a-z0-9._-]`, 1..=32 bytes).
    pub network: String,
    /// The account this handle acts as.
    pub caller: Account,
    /// Network admin (may revoke any device). Recorded when the file is created; reopening
    /// with a different admin is a [`crate::Error::Config`] error.
    pub admin: Account,
    /// Oracle (may publish roots). Recorded like `admin`.
    pub oracle: Account,
    /// The claim tree format. Recorded like `admin`.
    pub claim_format: ClaimFormat,
}

/// EVM backend settings (contracts in `contracts/`).
#[derive(Clone, Debug)]
pub struct EvmConfig {
    /// JSON-RPC endpoint (`http://127.0.0.1:8545`).
    pub rpc_url: String,
    /// Expected chain id (checked against `eth_chainId` on connect).
    pub chain_id: u64,
    /// The `DeviceRegistry` contract.
    pub registry: EvmAddress,
    /// The `RewardDistributor` contract.
    pub distributor: EvmAddress,
    /// The secp256k1 key this handle signs transactions with.
    pub signer: SecretKeyBytes,
    /// Retry policy for transport errors.
    pub retry: RetryPolicy,
    /// How long [`crate::ChainHandle::wait_for_receipt`] waits.
    pub receipt_timeout: Duration,
    /// Blocks on top of the inclusion block before a receipt is returned (0 = included).
    pub confirmations: u64,
}

/// Cosmos backend settings.
#[derive(Clone, Debug)]
pub struct CosmosConfig {
    /// CometBFT RPC endpoint (`http://127.0.0.1:26657`).
    pub rpc_url: String,
    /// Chain id (`"juno-1"`).
    pub chain_id: String,
    /// Bech32 account prefix (`"juno"`).
    pub account_prefix: String,
    /// The device registry contract address.
    pub registry_contract: String,
    /// The cw20-merkle-airdrop distributor contract address.
    pub distributor_contract: String,
    /// The secp256k1 key this handle signs transactions with.
    pub signer: SecretKeyBytes,
    /// Fee denomination (`"ujuno"`).
    pub fee_denom: String,
    /// Gas price as an exact decimal string in `fee_denom` per gas unit (`"0.025"`).
    pub gas_price: String,
    /// Gas limit = simulated gas times this, in percent (e.g. 130).
    pub gas_adjustment_percent: u32,
    /// Retry policy for transport errors.
    pub retry: RetryPolicy,
    /// How long [`crate::ChainHandle::wait_for_receipt`] waits.
    pub receipt_timeout: Duration,
}

/// Open the backend `config` names.
///
/// The `Evm` and `Cosmos` variants give [`crate::Error::FeatureNotCompiled`] when their feature is
/// off, so a configuration file can name any backend and a slim build fails cleanly.
pub async fn connect(config: &BackendConfig) -> Result<Arc<dyn ChainBackend>> {
    match config {
        #[cfg(feature = "local")]
        BackendConfig::Local(c) => crate::local::connect(c),
        #[cfg(not(feature = "local"))]
        BackendConfig::Local(_) => Err(Error::FeatureNotCompiled("local")),
        #[cfg(feature = "evm")]
        BackendConfig::Evm(c) => crate::evm::connect(c).await,
        #[cfg(not(feature = "evm"))]
        BackendConfig::Evm(_) => Err(Error::FeatureNotCompiled("evm")),
        #[cfg(feature = "cosmos")]
        BackendConfig::Cosmos(c) => crate::cosmos::connect(c).await,
        #[cfg(not(feature = "cosmos"))]
        BackendConfig::Cosmos(_) => Err(Error::FeatureNotCompiled("cosmos")),
        BackendConfig::Custom(c) => {
            let backend = (c.constructor)().await?;
            if backend.kind() != crate::types::BackendKind::Custom(c.name) {
                return Err(Error::Config(format!(
                    "the custom backend {:?} reports itself as {:?}",
                    c.name,
                    backend.kind()
                )));
            }
            Ok(backend)
        }
    }
}
