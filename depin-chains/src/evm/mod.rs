//! EVM backend (feature `evm`): the `DeviceRegistry` and `RewardDistributor` contracts of
//! `contracts/`, reached over JSON-RPC with [alloy](https://docs.rs/alloy).
//!
//! | trait operation | contract call |
//! |---|---|
//! | [`ChainBackend::registration_challenge`] | `nonces(device)`, then the EIP-712 `Register` digest ([`RegisterPermit::digest`]) |
//! | [`ChainBackend::register_device`] | latest block time (deadline cap), then `register(owner, device, keyType, deviceId, metadataHash, deadline, publicKey, signature)` |
//! | [`ChainBackend::revoke_device`] | `revoke(device)` (token owner or admin) |
//! | [`ChainBackend::device`] | `deviceInfo(device)` |
//! | [`ChainBackend::publish_root`] | `rootOf`/`totalOf` (idempotence check), `maxNextEpoch()` (gap check), then `publishRoot(epoch, root, total)` (oracle) |
//! | [`ChainBackend::claim`] | `claim(account, cumulativeAmount, proof)` |
//! | [`ChainBackend::claimed`] | `claimed(account)` |
//! | [`ChainBackend::wait_for_receipt`] | `eth_getTransactionReceipt`, polled until `confirmations` blocks are on top |
//!
//! The device is named on chain by the EVM address of its secp256k1 key; its 32-byte
//! `deviceId` is [`crate::device_id_hash`] and `metadataHash` is SHA-256 of the metadata. The
//! registration also carries the 64-byte uncompressed public key ([`device_public_key`]), from
//! which the contract re-derives both the address and the `deviceId`. Only secp256k1 devices
//! can register (the contract verifies an ECDSA signature and accepts key type 1 only); other
//! key types get [`Error::Unsupported`] before anything is sent.
//!
//! Claim trees are [`ClaimFormat::OpenZeppelinBound`] to the backend's chain id and
//! distributor address ([`ChainBackend::claim_format`]): a root built for one distributor
//! proves nothing on another one.
//!
//! Rules the backend checks before sending, so that nothing is signed or paid for in vain:
//! - **Permit deadlines** (registrations and nonce cancellations) may lie at most
//!   [`MAX_PERMIT_LIFETIME`] (30 days) after the latest block: [`Error::DeadlineTooFar`].
//! - **Epoch gaps**: a root may be published for at most [`EvmBackend::max_next_epoch`]
//!   (`latestEpoch() +` [`MAX_EPOCH_GAP`]): [`Error::EpochGapTooLarge`].
//!
//! Published totals are the sum over the tree of `max(cumulative, claimed)`
//! ([`EvmBackend::publishable_total`]) and never below what was already paid. Claims are accepted
//! against the latest root and, for [`CLAIM_GRACE_PERIOD`] (1 day) after a publication, the
//! previous one ([`EvmBackend::claimable_roots`]); a claim refused with [`Error::InvalidProof`]
//! after a root change is rebuilt from the latest tree ([`EvmBackend::refresh_claim`]). A bad
//! root is corrected without being claimable: the guardian pauses ([`EvmBackend::pause`]), the
//! oracle publishes the correction (allowed while paused, and the replaced root is then not kept
//! for the grace period), the admin unpauses. Funds leave otherwise only by the timelocked
//! recovery ([`EvmBackend::propose_recovery`]). A device voids its outstanding permits with
//! [`EvmBackend::cancel_nonce`].
//!
//! Every write is simulated with `eth_estimateGas` first, so contract errors come back as typed
//! [`Error`]s before any nonce is used (the mapping table is in `docs/chains-evm-cosmos.md`). Nonces are
//! managed per handle (see `docs/chains-evm-cosmos.md`): concurrent calls on one handle, or on
//! clones of it, get consecutive nonces. Two *different* handles with the same key race on
//! nonces; the loser re-reads the nonce and resends, up to three times.

pub mod bindings;
pub mod deploy;
mod eip712;
mod ops;
mod revert;
mod sender;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::network::{Ethereum, EthereumWallet};
use alloy::primitives::{Address, FixedBytes, B256, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::client::RpcClient;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use alloy::transports::http::Http;
use async_trait::async_trait;
use depin_core::{DeviceId, Epoch, EvmAddress, KeyType};

pub use eip712::{registry_domain, CancelNoncePermit, RegisterPermit, DOMAIN_NAME, DOMAIN_VERSION};
pub use ops::{
    ClaimableRoots, PendingRecovery, PreviousRoot, CLAIM_GRACE_PERIOD, MAX_EPOCH_GAP,
    MAX_PERMIT_LIFETIME, RECOVERY_DELAY,
};

use self::bindings::{DepinToken, DeviceRegistry, RewardDistributor};
use self::revert::{rpc, u256_to_u128, Target};
use self::sender::{Sender, RECEIPT_POLL};
use crate::backend::ChainBackend;
use crate::config::{EvmConfig, SecretKeyBytes};
use crate::error::{Error, Result};
use crate::types::{
    device_id_hash, Account, BackendKind, Claim, ClaimFormat, DeviceRecord, DeviceRegistration,
    EpochRoot, PublishOutcome, Receipt, RegistrationChallenge, RegistrationProof, TxHandle,
    TxStatus,
};

/// Timeout of one JSON-RPC HTTP request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Open an EVM backend handle from configuration, as a trait object.
pub async fn connect(config: &EvmConfig) -> Result<Arc<dyn ChainBackend>> {
    Ok(Arc::new(EvmBackend::connect(config).await?))
}

/// A JSON-RPC provider over HTTP with [`REQUEST_TIMEOUT`] per request.
pub(crate) fn http_provider(rpc_url: &str) -> Result<RootProvider<Ethereum>> {
    let url: reqwest::Url = rpc_url
        .parse()
        .map_err(|e| Error::Config(format!("invalid RPC URL {rpc_url:?}: {e}")))?;
    if url.scheme() == "https" && !cfg!(feature = "tls") {
        return Err(Error::Config(
            "https RPC URLs need the `tls` cargo feature of depin-chains".into(),
        ));
    }
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::Config(format!(
            "unsupported RPC URL scheme {:?} (http or https)",
            url.scheme()
        )));
    }
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
    let is_local = url
        .host_str()
        .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]");
    let http = Http::with_client(client, url);
    Ok(RootProvider::new(RpcClient::new(http, is_local)))
}

/// The alloy signer for a 32-byte secp256k1 secret.
pub(crate) fn local_signer(secret: &SecretKeyBytes) -> Result<PrivateKeySigner> {
    PrivateKeySigner::from_slice(&secret.0)
        .map_err(|_| Error::Config("the signer secret is not a valid secp256k1 key".into()))
}

fn to_alloy(a: &EvmAddress) -> Address {
    Address::from(a.0)
}

fn from_alloy(a: Address) -> EvmAddress {
    EvmAddress(a.into_array())
}

fn evm_account(account: &Account) -> Result<Address> {
    account
        .as_evm()
        .map(to_alloy)
        .ok_or_else(|| Error::InvalidInput(format!("{account} is not an EVM address")))
}

/// [`Error::Unsupported`] unless `device` has a secp256k1 key (the only kind the registry
/// accepts: `keyType` 1, verified with `ecrecover`).
fn require_secp256k1(device: &DeviceId) -> Result<()> {
    if device.key_type() != KeyType::Secp256k1 {
        return Err(Error::Unsupported(format!(
            "the EVM registry only accepts secp256k1 devices, not {}",
            device.key_type()
        )));
    }
    Ok(())
}

/// The EVM address a device is known by on the registry (secp256k1 keys only).
pub fn device_address(device: &DeviceId) -> Result<Address> {
    require_secp256k1(device)?;
    let pk = device.public_key()?;
    Ok(to_alloy(&EvmAddress::from_public_key(&pk)?))
}

/// The `publicKey` argument of the registry's `register`: the device's 64-byte uncompressed
/// secp256k1 key `x || y` (SEC1 without the `0x04` prefix), whose keccak256 names the device
/// address. Secp256k1 keys only ([`Error::Unsupported`] otherwise).
pub fn device_public_key(device: &DeviceId) -> Result<[u8; 64]> {
    require_secp256k1(device)?;
    let sec1 = device.public_key()?.to_uncompressed_sec1()?;
    let mut out = [0u8; 64];
    out.copy_from_slice(&sec1[1..]);
    Ok(out)
}

/// A handle on the EVM contracts, acting as one account (the signer of [`EvmConfig`]).
///
/// Cheap to clone: clones share the connection and the nonce cache.
#[derive(Clone)]
pub struct EvmBackend {
    inner: Arc<Inner>,
}

struct Inner {
    sender: Sender,
    chain_id: u64,
    registry: Address,
    distributor: Address,
    token: Address,
    receipt_timeout: Duration,
    confirmations: u64,
}

impl std::fmt::Debug for EvmBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvmBackend")
            .field("account", &self.inner.sender.from())
            .field("chain_id", &self.inner.chain_id)
            .field("registry", &self.inner.registry)
            .field("distributor", &self.inner.distributor)
            .finish()
    }
}

impl EvmBackend {
    /// Connect: check the chain id, that both contracts have code, and read the reward token.
    pub async fn connect(config: &EvmConfig) -> Result<Self> {
        let provider = http_provider(&config.rpc_url)?;
        let signer = local_signer(&config.signer)?;
        let from = signer.address();
        let chain_id = rpc(&config.retry, Target::Other, || provider.get_chain_id()).await?;
        if chain_id != config.chain_id {
            return Err(Error::Config(format!(
                "the node at {} is chain {chain_id}, configuration expects {}",
                config.rpc_url, config.chain_id
            )));
        }
        let registry = to_alloy(&config.registry);
        let distributor = to_alloy(&config.distributor);
        for (name, addr) in [
            ("DeviceRegistry", registry),
            ("RewardDistributor", distributor),
        ] {
            let code = rpc(&config.retry, Target::Other, || provider.get_code_at(addr)).await?;
            if code.is_empty() {
                return Err(Error::Config(format!("no {name} contract at {addr}")));
            }
        }
        let sender = Sender::new(
            provider,
            EthereumWallet::from(signer),
            from,
            chain_id,
            config.retry,
        );
        let out = sender
            .call(
                Target::Distributor,
                distributor,
                RewardDistributor::tokenCall {}.abi_encode(),
            )
            .await?;
        let token = decode::<RewardDistributor::tokenCall>(&out)?;
        Ok(EvmBackend {
            inner: Arc::new(Inner {
                sender,
                chain_id,
                registry,
                distributor,
                token,
                receipt_timeout: config.receipt_timeout,
                confirmations: config.confirmations,
            }),
        })
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    /// The account transactions are signed with.
    pub fn address(&self) -> EvmAddress {
        from_alloy(self.inner.sender.from())
    }

    /// The `DeviceRegistry` address.
    pub fn registry(&self) -> EvmAddress {
        from_alloy(self.inner.registry)
    }

    /// The `RewardDistributor` address.
    pub fn distributor(&self) -> EvmAddress {
        from_alloy(self.inner.distributor)
    }

    /// The ERC-20 reward token paid by the distributor.
    pub fn token(&self) -> EvmAddress {
        from_alloy(self.inner.token)
    }

    /// Whether the distributor is paused (`paused()`): claims then fail with [`Error::Paused`];
    /// the oracle can still publish roots (to replace a bad one before the admin unpauses).
    pub async fn paused(&self) -> Result<bool> {
        self.view::<RewardDistributor::pausedCall>(
            Target::Distributor,
            self.inner.distributor,
            RewardDistributor::pausedCall {},
        )
        .await
    }

    /// The total of the latest published epoch (`latestTotal()`, 0 before any): claims may not
    /// bring the total claimed above it. A later root may publish less, but never less than
    /// [`EvmBackend::total_claimed`].
    pub async fn latest_total(&self) -> Result<u128> {
        let v = self
            .view::<RewardDistributor::latestTotalCall>(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::latestTotalCall {},
            )
            .await?;
        u256_to_u128(v, "latest total")
    }

    /// The leaf the distributor checks for `(account, cumulative_amount)` (`leafHash`), which
    /// binds this chain and distributor. Equals
    /// `depin_rewards::claims::oz::leaf_hash_bound` under [`ChainBackend::claim_format`].
    pub async fn leaf_hash(&self, account: &Account, cumulative_amount: u128) -> Result<[u8; 32]> {
        let h = self
            .view::<RewardDistributor::leafHashCall>(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::leafHashCall {
                    account: evm_account(account)?,
                    cumulativeAmount: U256::from(cumulative_amount),
                },
            )
            .await?;
        Ok(h.0)
    }

    /// Pause the distributor (`pause()`): needs `GUARDIAN_ROLE` ([`Error::Unauthorized`]
    /// otherwise); pausing twice is [`Error::Paused`].
    pub async fn pause(&self) -> Result<TxHandle> {
        self.send(
            Target::Distributor,
            self.inner.distributor,
            RewardDistributor::pauseCall {},
        )
        .await
    }

    /// Unpause the distributor (`unpause()`): needs the default admin role (the guardian
    /// cannot unpause; [`Error::Unauthorized`]); [`Error::InvalidInput`] if it is not paused.
    pub async fn unpause(&self) -> Result<TxHandle> {
        self.send(
            Target::Distributor,
            self.inner.distributor,
            RewardDistributor::unpauseCall {},
        )
        .await
    }

    /// The EIP-712 permit a registration stands for, with the registry's current nonce of the
    /// device.
    pub async fn register_permit(
        &self,
        registration: &DeviceRegistration,
    ) -> Result<RegisterPermit> {
        // the checks run before any RPC
        let mut permit = permit_without_nonce(registration)?;
        permit.nonce = self
            .view::<DeviceRegistry::noncesCall>(
                Target::Registry,
                self.inner.registry,
                DeviceRegistry::noncesCall {
                    device: permit.device,
                },
            )
            .await?;
        Ok(permit)
    }

    async fn view<C: SolCall>(&self, target: Target, to: Address, call: C) -> Result<C::Return> {
        let out = self
            .inner
            .sender
            .call(target, to, call.abi_encode())
            .await?;
        decode::<C>(&out)
    }

    async fn send<C: SolCall>(&self, target: Target, to: Address, call: C) -> Result<TxHandle> {
        let hash = self
            .inner
            .sender
            .send(target, Some(to), call.abi_encode())
            .await?;
        Ok(TxHandle(hash.0))
    }

    /// ERC-20 balance of `who` in the reward token.
    async fn balance_of(&self, who: Address) -> Result<u128> {
        let v = self
            .view::<DepinToken::balanceOfCall>(
                Target::Other,
                self.inner.token,
                DepinToken::balanceOfCall { account: who },
            )
            .await?;
        u256_to_u128(v, "token balance")
    }
}

fn decode<C: SolCall>(out: &[u8]) -> Result<C::Return> {
    C::abi_decode_returns(out)
        .map_err(|e| Error::permanent(format!("cannot decode the {} result: {e}", C::SIGNATURE)))
}

/// The permit fields of `registration` with a zero nonce: checks that the device has an EVM
/// address and the owner is an EVM account, no RPC.
fn permit_without_nonce(registration: &DeviceRegistration) -> Result<RegisterPermit> {
    let device = device_address(&registration.device)?;
    let owner = evm_account(&registration.owner)?;
    Ok(RegisterPermit {
        owner,
        device,
        key_type: registration.key_type().tag(),
        device_id: B256::from(device_id_hash(&registration.device)),
        metadata_hash: B256::from(registration.metadata_hash()),
        nonce: U256::ZERO,
        deadline: U256::from(registration.deadline),
    })
}

#[async_trait]
impl ChainBackend for EvmBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Evm
    }

    fn account(&self) -> Option<Account> {
        Some(Account::Evm(self.address()))
    }

    /// [`ClaimFormat::OpenZeppelinBound`] to this backend's chain id (read from the node at
    /// connect time and checked against the configuration) and distributor address: the leaf
    /// the `RewardDistributor` checks.
    fn claim_format(&self) -> ClaimFormat {
        ClaimFormat::OpenZeppelinBound {
            chain_id: self.inner.chain_id,
            distributor: self.inner.distributor.into_array(),
        }
    }

    async fn registration_challenge(
        &self,
        registration: &DeviceRegistration,
    ) -> Result<RegistrationChallenge> {
        let permit = self.register_permit(registration).await?;
        Ok(RegistrationChallenge::Eip712 {
            digest: permit.digest(self.inner.chain_id, self.inner.registry).0,
        })
    }

    async fn register_device(
        &self,
        registration: &DeviceRegistration,
        proof: &RegistrationProof,
    ) -> Result<TxHandle> {
        // Ed25519 and P-256 devices cannot register here (the contract would revert with
        // `UnsupportedKeyType`): refuse them before anything is sent
        require_secp256k1(&registration.device)?;
        let signature = match proof {
            RegistrationProof::Eip712(sig) => sig,
            _ => {
                return Err(Error::Unsupported(
                    "the EVM registry needs an EIP-712 signature (RegistrationProof::Eip712)"
                        .into(),
                ))
            }
        };
        // `registerCall` carries no nonce (the contract reads its own), so no RPC for it here
        let permit = permit_without_nonce(registration)?;
        // a deadline beyond the registry's cap would be `DeadlineTooFar`: refuse it here
        self.check_permit_deadline(permit.deadline).await?;
        let public_key = device_public_key(&registration.device)?;
        let call = DeviceRegistry::registerCall {
            owner: permit.owner,
            device: permit.device,
            keyType: permit.key_type,
            deviceId: permit.device_id,
            metadataHash: permit.metadata_hash,
            deadline: permit.deadline,
            publicKey: public_key.to_vec().into(),
            signature: signature.to_vec().into(),
        };
        self.send(Target::Registry, self.inner.registry, call).await
    }

    async fn revoke_device(&self, device: &DeviceId) -> Result<TxHandle> {
        let device = device_address(device)?;
        self.send(
            Target::Registry,
            self.inner.registry,
            DeviceRegistry::revokeCall { device },
        )
        .await
    }

    async fn device(&self, device: &DeviceId) -> Result<DeviceRecord> {
        let addr = device_address(device)?;
        let info = self
            .view::<DeviceRegistry::deviceInfoCall>(
                Target::Registry,
                self.inner.registry,
                DeviceRegistry::deviceInfoCall { device: addr },
            )
            .await?;
        if info.deviceId != B256::from(device_id_hash(device)) {
            return Err(Error::Corrupt(format!(
                "registry entry of {addr} carries device id hash {}, not that of {device}",
                info.deviceId
            )));
        }
        Ok(DeviceRecord {
            device: *device,
            owner: Account::Evm(from_alloy(info.owner)),
            key_type: KeyType::from_tag(info.keyType)?,
            metadata_hash: info.metadataHash.0,
            active: info.active,
            trust: Default::default(),
        })
    }

    /// Also refuses an epoch above [`EvmBackend::max_next_epoch`] with
    /// [`Error::EpochGapTooLarge`] before sending (the contract would revert with
    /// `EpochGapTooLarge`). Works while the distributor is paused.
    async fn publish_root(&self, root: &EpochRoot) -> Result<PublishOutcome> {
        root.check_publishable()?;
        if let Some(existing) = self.epoch_root(root.epoch).await? {
            return root.republish(&existing);
        }
        let max = self.max_next_epoch().await?;
        if root.epoch > max {
            return Err(Error::EpochGapTooLarge {
                epoch: root.epoch,
                max,
            });
        }
        let call = RewardDistributor::publishRootCall {
            epoch: root.epoch.0,
            root: FixedBytes(root.root),
            total: U256::from(root.total),
        };
        let tx = self
            .send(Target::Distributor, self.inner.distributor, call)
            .await?;
        Ok(PublishOutcome::Published(tx))
    }

    async fn epoch_root(&self, epoch: Epoch) -> Result<Option<EpochRoot>> {
        let root = self
            .view::<RewardDistributor::rootOfCall>(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::rootOfCall { epoch: epoch.0 },
            )
            .await?;
        if root == B256::ZERO {
            return Ok(None);
        }
        let total = self
            .view::<RewardDistributor::totalOfCall>(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::totalOfCall { epoch: epoch.0 },
            )
            .await?;
        Ok(Some(EpochRoot {
            epoch,
            root: root.0,
            total: u256_to_u128(total, "epoch total")?,
        }))
    }

    async fn claim(&self, claim: &Claim) -> Result<TxHandle> {
        let call = RewardDistributor::claimCall {
            account: evm_account(&claim.account)?,
            cumulativeAmount: U256::from(claim.cumulative_amount),
            proof: claim.proof.iter().map(|p| FixedBytes(*p)).collect(),
        };
        self.send(Target::Distributor, self.inner.distributor, call)
            .await
    }

    async fn claimed(&self, account: &Account) -> Result<u128> {
        let v = self
            .view::<RewardDistributor::claimedCall>(
                Target::Distributor,
                self.inner.distributor,
                RewardDistributor::claimedCall {
                    account: evm_account(account)?,
                },
            )
            .await?;
        u256_to_u128(v, "claimed amount")
    }

    async fn pool_balance(&self) -> Result<Option<u128>> {
        Ok(Some(self.balance_of(self.inner.distributor).await?))
    }

    async fn token_balance(&self, account: &Account) -> Result<Option<u128>> {
        Ok(Some(self.balance_of(evm_account(account)?).await?))
    }

    async fn fund_pool(&self, amount: u128) -> Result<TxHandle> {
        // an ERC-20 transfer from the caller to the distributor
        self.send(
            Target::Other,
            self.inner.token,
            DepinToken::transferCall {
                to: self.inner.distributor,
                value: U256::from(amount),
            },
        )
        .await
    }

    async fn wait_for_receipt(&self, tx: &TxHandle) -> Result<Receipt> {
        let hash = B256::from(tx.0);
        let provider = self.inner.sender.provider();
        let policy = *self.inner.sender.retry_policy();
        let started = Instant::now();
        loop {
            let receipt = rpc(&policy, Target::Other, || {
                provider.get_transaction_receipt(hash)
            })
            .await?;
            match receipt {
                Some(r) => {
                    let block = r.block_number.unwrap_or_default();
                    let head = rpc(&policy, Target::Other, || provider.get_block_number()).await?;
                    if head >= block.saturating_add(self.inner.confirmations) {
                        let status = if r.status() {
                            TxStatus::Success
                        } else {
                            TxStatus::Reverted {
                                reason: format!(
                                    "status 0 in block {block} (gas used {})",
                                    r.gas_used
                                ),
                            }
                        };
                        return Ok(Receipt {
                            tx: *tx,
                            block,
                            status,
                        });
                    }
                }
                None => {
                    let known = rpc(&policy, Target::Other, || {
                        provider.get_transaction_by_hash(hash)
                    })
                    .await?;
                    if known.is_none() {
                        return Err(Error::NotFound(format!("transaction {tx}")));
                    }
                }
            }
            if started.elapsed() >= self.inner.receipt_timeout {
                return Err(Error::transient(format!(
                    "no final receipt for {tx} after {:?}",
                    self.inner.receipt_timeout
                )));
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
    }
}
