//! Chain set-up and epoch settlement on any [`ChainBackend`].

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use depin_chains::local::{Genesis, LocalLedger};
use depin_chains::{
    Account, BackendConfig, ChainBackend, ClaimFormat, ClaimTree, CosmosConfig, DeviceRegistration,
    EpochRoot, EvmConfig, PublishOutcome, RegisteredDevice, RetryPolicy, TxHandle,
};
use depin_core::{DeviceId, Epoch, EvmAddress, KeyType, SigningKey};
use depin_rewards::CumulativeLedger;
use tokio::runtime::Runtime;

use crate::error::{Error, Result};
use crate::options::{ChainOptions, CosmosOptions, EvmOptions};
use crate::rng::SimRng;

/// Seconds a signed registration stays valid (checked against the chain's clock).
const REGISTRATION_VALIDITY_SECS: u64 = 3_600;

/// What settling one epoch did on the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The epoch.
    pub epoch: u64,
    /// Root of the cumulative claim tree (all zero if nobody has earned anything yet).
    pub root: [u8; 32],
    /// The transaction that published the root (`None` if nothing was published).
    pub publish_tx: Option<TxHandle>,
    /// Credited in this epoch, base units.
    pub epoch_total: u128,
    /// Cumulative total of the tree (every account's earnings so far), base units.
    pub cumulative_total: u128,
    /// Claims submitted and confirmed in this epoch.
    pub claims: usize,
    /// Paid by those claims, base units.
    pub claimed_now: u128,
    /// Paid to all accounts so far, as the chain reports (`claimed(account)` summed).
    pub claimed_total: u128,
    /// Accounts that chose not to claim this epoch (their next claim covers both epochs).
    pub deferred: usize,
    /// Whether a repeated claim was refused by the chain with `AlreadyClaimed`.
    pub double_claim_refused: bool,
    /// Tokens left in the distributor, if the backend models a pool.
    pub pool_balance: Option<u128>,
}

/// One network's chain: a backend handle acting as the network operator (admin, oracle and
/// claim relayer), the cumulative reward ledger and the claim tree format.
pub struct Chain {
    runtime: Runtime,
    backend: Arc<dyn ChainBackend>,
    format: ClaimFormat,
    cosmos_prefix: Option<String>,
    ledger: CumulativeLedger<Account>,
    description: String,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("description", &self.description)
            .field("format", &self.format)
            .finish()
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Chain {
    /// Open the chain `options` name for `network` (a depin-core network id) and fund its
    /// distributor with `funding` base units where the backend allows it.
    ///
    /// The local ledger file `<dir>/<network>.ledger` is replaced: every run starts a fresh
    /// network. The replacement happens only once this process holds the file's lock, so a
    /// ledger another process has open is never deleted or overwritten: that is
    /// [`Error::Ledger`] naming the path. On EVM, fresh contracts are deployed unless
    /// addresses are given.
    pub fn open(network: &str, options: &ChainOptions, funding: u128, seed: u64) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (backend, description, cosmos_prefix) = match options {
            ChainOptions::Local { dir } => {
                let (b, d) = open_local(network, dir, funding, seed)?;
                (b, d, None)
            }
            ChainOptions::Evm(evm) => {
                let (b, d) = runtime.block_on(open_evm(network, evm, funding))?;
                (b, d, None)
            }
            ChainOptions::Cosmos(c) => {
                let (b, d) = runtime.block_on(open_cosmos(c))?;
                (b, d, Some(c.account_prefix.clone()))
            }
        };
        let format = backend.claim_format();
        Ok(Chain {
            runtime,
            backend,
            format,
            cosmos_prefix,
            ledger: CumulativeLedger::new(),
            description,
        })
    }

    /// What the chain is, for the summary (e.g. `local ledger out/ledgers/wireless.ledger`).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The claim tree format the chain's distributor verifies.
    pub fn claim_format(&self) -> ClaimFormat {
        self.format
    }

    /// The backend handle (acting as the network operator).
    pub fn backend(&self) -> &Arc<dyn ChainBackend> {
        &self.backend
    }

    /// The cumulative reward ledger (per owner account).
    pub fn ledger(&self) -> &CumulativeLedger<Account> {
        &self.ledger
    }

    /// The account an owner key holds on this chain: its EVM address, or its bech32 address
    /// with the chain's prefix.
    pub fn owner_account(&self, owner: &SigningKey) -> Result<Account> {
        let pk = owner.public_key();
        match &self.cosmos_prefix {
            Some(prefix) => Ok(Account::cosmos(&depin_core::cosmos_address(&pk, prefix)?)?),
            None => Ok(Account::evm(EvmAddress::from_public_key(&pk)?)),
        }
    }

    /// Register a device under `owner`: the chain's registration challenge is signed with
    /// the device key (proof of possession) and the transaction awaited.
    pub fn register(
        &self,
        device: &SigningKey,
        owner: &Account,
        metadata: Vec<u8>,
    ) -> Result<TxHandle> {
        let registration = DeviceRegistration::new(
            DeviceId::from(device.public_key()),
            owner.clone(),
            metadata,
            now_secs() + REGISTRATION_VALIDITY_SECS,
        );
        self.runtime.block_on(async {
            let tx = self
                .backend
                .register_with_signer(&registration, device)
                .await?;
            self.backend.wait_for_receipt(&tx).await?.ensure_success()?;
            Ok(tx)
        })
    }

    /// Revoke a device (the operator is the network admin).
    pub fn revoke(&self, device: &DeviceId) -> Result<TxHandle> {
        self.runtime.block_on(async {
            let tx = self.backend.revoke_device(device).await?;
            self.backend.wait_for_receipt(&tx).await?.ensure_success()?;
            Ok(tx)
        })
    }

    /// The chain's record of a device.
    pub fn device(&self, device: &DeviceId) -> Result<RegisteredDevice> {
        Ok(self.runtime.block_on(self.backend.device(device))?)
    }

    /// Run `future` (a backend call) to completion on the chain's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// What `account` has claimed so far, as the chain reports it.
    pub fn claimed(&self, account: &Account) -> Result<u128> {
        Ok(self.runtime.block_on(self.backend.claimed(account))?)
    }

    /// Settle an epoch: add `credits` (owner, amount) to the cumulative ledger, build the
    /// claim tree over every owner's cumulative total, publish its root, then submit one
    /// cumulative claim per owner with something to claim. Owners in `deferring` skip this
    /// epoch unless it is the `last`; their next claim covers every epoch since.
    ///
    /// Checks, and fails with [`Error::Check`] otherwise: the chain's `claimed` of every
    /// owner that claimed equals its ledger total, and a repeated claim is refused.
    pub fn settle(
        &mut self,
        epoch: u64,
        credits: Vec<(Account, u128)>,
        deferring: &BTreeSet<Account>,
        last: bool,
    ) -> Result<Settlement> {
        let credits: Vec<(Account, u128)> = credits.into_iter().filter(|c| c.1 > 0).collect();
        let epoch_total = credits
            .iter()
            .try_fold(0u128, |s, c| s.checked_add(c.1))
            .ok_or_else(|| Error::Check("epoch total overflows".into()))?;
        self.ledger.apply(epoch, credits)?;
        let mut out = Settlement {
            epoch,
            root: [0; 32],
            publish_tx: None,
            epoch_total,
            cumulative_total: self.ledger.grand_total(),
            claims: 0,
            claimed_now: 0,
            claimed_total: 0,
            deferred: 0,
            double_claim_refused: false,
            pool_balance: None,
        };
        if self.ledger.is_empty() {
            return Ok(out);
        }
        let entries = self.ledger.claims();
        let tree = ClaimTree::new(self.format, entries.clone())?;
        out.root = tree.root();
        let backend = Arc::clone(&self.backend);
        let published = EpochRoot {
            epoch: Epoch(epoch),
            root: out.root,
            total: out.cumulative_total,
        };
        self.runtime.block_on(async {
            if let PublishOutcome::Published(tx) = backend.publish_root(&published).await? {
                backend.wait_for_receipt(&tx).await?.ensure_success()?;
                out.publish_tx = Some(tx);
            }
            let mut first_claim = None;
            // what the chain reports as claimed, summed over the accounts as they are read
            let mut claimed_total = 0u128;
            for (account, total) in &entries {
                let already = backend.claimed(account).await?;
                if *total <= already {
                    claimed_total = claimed_total.saturating_add(already);
                    continue;
                }
                if deferring.contains(account) && !last && epoch % 2 == 1 {
                    out.deferred += 1;
                    claimed_total = claimed_total.saturating_add(already);
                    continue;
                }
                let claim = tree.claim_for(account)?;
                let tx = backend.claim(&claim).await?;
                backend.wait_for_receipt(&tx).await?.ensure_success()?;
                out.claims += 1;
                out.claimed_now += total - already;
                let now = backend.claimed(account).await?;
                if now != *total {
                    return Err(Error::Check(format!(
                        "{account} claimed {now} on chain, ledger total is {total}"
                    )));
                }
                claimed_total = claimed_total.saturating_add(now);
                first_claim.get_or_insert(claim);
            }
            // The same cumulative claim again must pay nothing (a refused claim changes no
            // `claimed` value, so the sum above stands).
            if let Some(claim) = first_claim {
                match backend.claim(&claim).await {
                    Err(depin_chains::Error::AlreadyClaimed { .. }) => {
                        out.double_claim_refused = true
                    }
                    Ok(_) => return Err(Error::Check("a repeated claim was paid".into())),
                    Err(e) => return Err(e.into()),
                }
            }
            out.claimed_total = claimed_total;
            out.pool_balance = backend.pool_balance().await?;
            Ok::<(), Error>(())
        })?;
        Ok(out)
    }
}

fn open_local(
    network: &str,
    dir: &PathBuf,
    funding: u128,
    seed: u64,
) -> Result<(Arc<dyn ChainBackend>, String)> {
    std::fs::create_dir_all(dir).map_err(|source| Error::File {
        path: dir.clone(),
        source,
    })?;
    let path = dir.join(format!("{network}.ledger"));
    // The operator: network admin, oracle and claim relayer (a secp256k1 key, so the
    // account is an EVM address as the OpenZeppelin claim format needs).
    let operator = SimRng::new(seed, "operator").signing_key(KeyType::Secp256k1);
    let admin = Account::evm(EvmAddress::from_public_key(&operator.public_key())?);
    // Every run starts a fresh network, but the old file is never deleted behind another
    // process's back: `replace` takes the file's lock first and refuses (naming the path) a
    // ledger another run has open, instead of unlinking it while that run still writes.
    let ledger_error = |source| Error::Ledger {
        path: path.clone(),
        source,
    };
    let ledger = LocalLedger::replace(
        &path,
        Genesis {
            network: network.to_string(),
            admin: admin.clone(),
            oracle: admin.clone(),
            claim_format: ClaimFormat::OpenZeppelin,
        },
    )
    .map_err(ledger_error)?;
    let handle = ledger.handle(admin);
    if funding > 0 {
        handle.fund(funding).map_err(ledger_error)?;
    }
    Ok((Arc::new(handle), format!("local ledger {}", path.display())))
}

async fn open_evm(
    network: &str,
    evm: &EvmOptions,
    funding: u128,
) -> Result<(Arc<dyn ChainBackend>, String)> {
    let (registry, distributor) = match evm.contracts {
        Some(addresses) => {
            if let Some(token) = evm.token {
                fund_evm(evm, token, addresses.1, funding).await?;
            }
            addresses
        }
        None => deploy_evm(network, evm, funding).await?,
    };
    let config = EvmConfig {
        rpc_url: evm.rpc_url.clone(),
        chain_id: evm.chain_id,
        registry,
        distributor,
        signer: evm.private_key.clone(),
        retry: RetryPolicy::default(),
        receipt_timeout: std::time::Duration::from_secs(60),
        confirmations: 0,
    };
    let backend = depin_chains::connect(&BackendConfig::Evm(config)).await?;
    Ok((
        backend,
        format!(
            "EVM chain {} at {} (registry {registry}, distributor {distributor})",
            evm.chain_id, evm.rpc_url
        ),
    ))
}

#[cfg(feature = "evm")]
async fn deploy_evm(
    _network: &str,
    evm: &EvmOptions,
    funding: u128,
) -> Result<(EvmAddress, EvmAddress)> {
    use depin_chains::evm::deploy::Deployer;
    let deployer = Deployer::new(&evm.rpc_url, &evm.private_key, RetryPolicy::default()).await?;
    let d = deployer.deploy_all(deployer.address()).await?;
    if funding > 0 {
        deployer.mint(d.token, d.distributor, funding).await?;
    }
    Ok((d.registry, d.distributor))
}

#[cfg(not(feature = "evm"))]
async fn deploy_evm(
    _network: &str,
    _evm: &EvmOptions,
    _funding: u128,
) -> Result<(EvmAddress, EvmAddress)> {
    Err(Error::Options(
        "deploying the EVM contracts needs the `evm` cargo feature \
         (cargo run -p depin-demo --features evm -- --backend evm ...)"
            .into(),
    ))
}

#[cfg(feature = "evm")]
async fn fund_evm(
    evm: &EvmOptions,
    token: EvmAddress,
    distributor: EvmAddress,
    funding: u128,
) -> Result<()> {
    use depin_chains::evm::deploy::Deployer;
    if funding > 0 {
        let deployer =
            Deployer::new(&evm.rpc_url, &evm.private_key, RetryPolicy::default()).await?;
        deployer.mint(token, distributor, funding).await?;
    }
    Ok(())
}

#[cfg(not(feature = "evm"))]
async fn fund_evm(
    _evm: &EvmOptions,
    _token: EvmAddress,
    _distributor: EvmAddress,
    _funding: u128,
) -> Result<()> {
    Err(Error::Options(
        "funding the distributor needs the `evm` cargo feature".into(),
    ))
}

async fn open_cosmos(c: &CosmosOptions) -> Result<(Arc<dyn ChainBackend>, String)> {
    let config = CosmosConfig {
        rpc_url: c.rpc_url.clone(),
        chain_id: c.chain_id.clone(),
        account_prefix: c.account_prefix.clone(),
        registry_contract: c.registry_contract.clone(),
        distributor_contract: c.distributor_contract.clone(),
        signer: c.private_key.clone(),
        fee_denom: c.fee_denom.clone(),
        gas_price: c.gas_price.clone(),
        gas_adjustment_percent: 130,
        retry: RetryPolicy::default(),
        receipt_timeout: std::time::Duration::from_secs(60),
    };
    let backend = depin_chains::connect(&BackendConfig::Cosmos(config)).await?;
    Ok((
        backend,
        format!(
            "Cosmos chain {} at {} (distributor {})",
            c.chain_id, c.rpc_url, c.distributor_contract
        ),
    ))
}
