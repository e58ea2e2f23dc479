//! EVM backend (feature `evm`): the `DeviceRegistry` and `RewardDistributor` contracts of
//! `contracts/`, reached over JSON-RPC with [alloy](https://docs.rs/alloy).
//!
//! | trait operation | contract call |
//! |---|---|
//! | [`crate::RegistryBackend::registration_challenge`] | `nonces(device)`, then the EIP-712 `Register` digest ([`RegisterPermit::digest`]) |
//! | [`crate::RegistryBackend::register_device`] | latest block time (deadline cap), then `register(owner, device, keyType, deviceId, metadataHash, deadline, publicKey, signature)` |
//! | [`crate::RegistryBackend::revoke_device`] | `revoke(device)` (token owner or admin) |
//! | [`crate::RegistryBackend::device`] | `deviceInfo(device)` |
//! | [`crate::DistributorBackend::publish_root`] | `rootOf`/`totalOf` (idempotence check), `maxNextEpoch()` (gap check), then `publishRoot(epoch, root, total)` (oracle) |
//! | [`crate::DistributorBackend::publish_quorum_root`] | `rootOf`/`totalOf` (idempotence), `statementDigest(epoch, root, total)`, then `publishQuorumRoot(epoch, root, total, signatures)` (anyone; signers' `r || s || v` in address order) |
//! | [`crate::DistributorBackend::claim`] | `claim(account, cumulativeAmount, proof)` |
//! | [`crate::DistributorBackend::claimed`] | `claimed(account)` |
//! | [`crate::ChainHandle::wait_for_receipt`] | `eth_getTransactionReceipt`, polled until `confirmations` blocks are on top |
//!
//! The device is named on chain by an address ([`device_address`]: the EVM address of a
//! secp256k1 key, a tagged hash of a P-256 or Ed25519 key); its 32-byte `deviceId` is
//! [`crate::device_id_hash`] and `metadataHash` is SHA-256 of the metadata. The registration
//! also carries the public key ([`device_public_key`]), from which the contract re-derives both
//! the address and the `deviceId`.
//!
//! | key type | registers by itself | onboarded by a maker |
//! |---|---|---|
//! | secp256k1 | EIP-712 permit, `ecrecover` ([`RegistrationProof::Eip712`]) | maker attestation + the device's permit |
//! | P-256 | EIP-712 permit, OpenZeppelin `P256.verify` ([`RegistrationProof::Eip712P256`]) | maker attestation + the device's permit |
//! | Ed25519 | no ([`Error::Unsupported`]: no EVM verifier) | the maker's attestation alone |
//!
//! Makers ([`crate::makers`]) are secp256k1 accounts approved by the admin
//! (`approveMaker`, `revokeMaker`, `setMakersOnly`, `onboard`, `makerInfo`, `deviceTrust`).
//! Hardware evidence is not checked on chain: [`crate::RegistryBackend::onboard_device`] with evidence is
//! [`Error::Unsupported`] (check it off chain with `depin_attest::evidence` before the maker
//! attests).
//!
//! Claim trees are [`ClaimFormat::OpenZeppelinBound`] to the backend's chain id and
//! distributor address ([`crate::DistributorBackend::claim_format`]): a root built for one distributor
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
mod quorum;
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
pub use quorum::{EvmOracleSet, ORACLE_SET_DELAY};

use self::bindings::{DepinToken, DeviceRegistry, RewardDistributor};
use self::revert::{rpc, u256_to_u128, Target};
use self::sender::{Sender, RECEIPT_POLL};
use crate::backend::ChainBackend;
use crate::config::{EvmConfig, SecretKeyBytes};
use crate::error::{Error, Result};
use crate::makers::{
    DeviceTrust, HardwareEvidence, Maker, MakerAttestation, MakerRecord, OnMakerRevoked,
    Onboarding, OnboardingChallenge, TrustLevel,
};
use crate::types::{
    device_id_hash, Account, BackendKind, Claim, ClaimFormat, DeviceRegistration, EpochRoot,
    PublishOutcome, Receipt, RegisteredDevice, RegistrationChallenge, RegistrationProof, TxHandle,
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

/// [`Error::Unsupported`] unless `device` has a secp256k1 key (the only kind that can sign
/// EVM transactions and nonce cancellations, and the kind makers' keys must be).
fn require_secp256k1(device: &DeviceId) -> Result<()> {
    if device.key_type() != KeyType::Secp256k1 {
        return Err(Error::Unsupported(format!(
            "this needs a secp256k1 key, not {}",
            device.key_type()
        )));
    }
    Ok(())
}

/// The address a device is known by on the registry (`deviceAddressOf`): for secp256k1 the
/// EVM address of its key; for P-256 and Ed25519 the last 20 bytes of
/// `keccak256(key type tag || key)` ([`device_public_key`] for the key bytes).
pub fn device_address(device: &DeviceId) -> Result<Address> {
    let key = device_public_key(device)?;
    let hash = match device.key_type() {
        KeyType::Secp256k1 => alloy::primitives::keccak256(&key),
        kt => {
            let mut tagged = Vec::with_capacity(1 + key.len());
            tagged.push(kt.tag());
            tagged.extend_from_slice(&key);
            alloy::primitives::keccak256(&tagged)
        }
    };
    Ok(Address::from_slice(&hash[12..]))
}

/// The `publicKey` argument of the registry: for secp256k1 and P-256 the 64-byte uncompressed
/// key `x || y` (SEC1 without the `0x04` prefix), for Ed25519 the 32-byte key.
pub fn device_public_key(device: &DeviceId) -> Result<Vec<u8>> {
    let key = device.public_key()?;
    match device.key_type() {
        KeyType::Ed25519 => Ok(key.to_bytes().as_ref().to_vec()),
        _ => Ok(key.to_uncompressed_sec1()?[1..].to_vec()),
    }
}

/// The 65-byte `r || s || v` form of a maker's secp256k1 signature over `digest`: the `v`
/// under which it recovers the maker's address, or 27 if neither does (the contract then
/// refuses it, after its earlier checks, so the error is the contract's own).
fn recoverable_or_27(signature: &depin_core::Signature, digest: &B256, maker: Address) -> Vec<u8> {
    recoverable(signature, digest, maker).unwrap_or_else(|| {
        let mut out = signature.to_bytes().to_vec();
        out.push(27);
        out
    })
}

/// The 65-byte `r || s || v` form of a secp256k1 signature over `digest` under which it
/// recovers `signer`'s address; `None` if it recovers another address under both `v`s (not
/// `signer`'s signature over `digest`).
fn recoverable(
    signature: &depin_core::Signature,
    digest: &B256,
    signer: Address,
) -> Option<Vec<u8>> {
    let rs = signature.to_bytes();
    let parity = [false, true].into_iter().find(|&parity| {
        alloy::primitives::Signature::from_bytes_and_parity(&rs, parity)
            .recover_address_from_prehash(digest)
            .ok()
            == Some(signer)
    })?;
    let mut out = rs.to_vec();
    out.push(27 + u8::from(parity));
    Some(out)
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
    /// `depin_rewards::claims::oz::leaf_hash_bound` under [`crate::DistributorBackend::claim_format`].
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

    /// The did:key id of the maker at `maker`, from the key the registry keeps for it.
    async fn maker_id(&self, maker: Address) -> Result<DeviceId> {
        let info = self
            .view::<DeviceRegistry::makerInfoCall>(
                Target::Registry,
                self.inner.registry,
                DeviceRegistry::makerInfoCall { maker },
            )
            .await?;
        let mut sec1 = Vec::with_capacity(65);
        sec1.push(4);
        sec1.extend_from_slice(&info.publicKey);
        let key = depin_core::PublicKey::from_sec1(KeyType::Secp256k1, &sec1)
            .map_err(|_| Error::Corrupt(format!("maker {maker} has no valid key on chain")))?;
        Ok(DeviceId::from(key))
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
impl crate::backend::ChainHandle for EvmBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Evm
    }

    fn account(&self) -> Option<Account> {
        Some(Account::Evm(self.address()))
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

#[async_trait]
impl crate::backend::RegistryBackend for EvmBackend {
    async fn registration_challenge(
        &self,
        registration: &DeviceRegistration,
    ) -> Result<RegistrationChallenge> {
        if registration.device.key_type() == KeyType::Ed25519 {
            return Err(Error::Unsupported(
                "Ed25519 devices cannot prove their key to the EVM registry; onboard them through a maker"
                    .into(),
            ));
        }
        let permit = self.register_permit(registration).await?;
        Ok(permit.challenge(self.inner.chain_id, self.inner.registry))
    }

    async fn register_device(
        &self,
        registration: &DeviceRegistration,
        proof: &RegistrationProof,
    ) -> Result<TxHandle> {
        let signature: Vec<u8> = match (registration.device.key_type(), proof) {
            (KeyType::Secp256k1, RegistrationProof::Eip712(sig)) => sig.to_vec(),
            (KeyType::P256, RegistrationProof::Eip712P256(sig)) => sig.to_vec(),
            (KeyType::Ed25519, _) => {
                return Err(Error::Unsupported(
                    "Ed25519 devices cannot prove their key to the EVM registry; onboard them through a maker"
                        .into(),
                ))
            }
            _ => {
                return Err(Error::Unsupported(
                    "the EVM registry needs an EIP-712 signature (RegistrationProof::Eip712 for secp256k1, Eip712P256 for P-256)"
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
            publicKey: public_key.into(),
            signature: signature.into(),
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

    async fn device(&self, device: &DeviceId) -> Result<RegisteredDevice> {
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
        let trust = self
            .view::<DeviceRegistry::deviceTrustCall>(
                Target::Registry,
                self.inner.registry,
                DeviceRegistry::deviceTrustCall { device: addr },
            )
            .await?;
        let trust = if trust.maker == Address::ZERO {
            DeviceTrust::default()
        } else {
            DeviceTrust {
                level: TrustLevel::from_tag(trust.trust).ok_or_else(|| {
                    Error::Corrupt(format!("trust level {} of {addr}", trust.trust))
                })?,
                maker: Some(self.maker_id(trust.maker).await?),
                hardware: None,
            }
        };
        Ok(RegisteredDevice {
            device: *device,
            owner: Account::Evm(from_alloy(info.owner)),
            key_type: KeyType::from_tag(info.keyType)?,
            metadata_hash: info.metadataHash.0,
            active: info.active,
            trust,
        })
    }

    async fn approve_maker(&self, maker: &Maker) -> Result<TxHandle> {
        maker.validate()?;
        require_secp256k1(&maker.key)?;
        let call = DeviceRegistry::approveMakerCall {
            maker: device_address(&maker.key)?,
            name: maker.name.clone(),
            quota: maker.quota,
            publicKey: device_public_key(&maker.key)?.into(),
        };
        self.send(Target::Registry, self.inner.registry, call).await
    }

    async fn revoke_maker(&self, maker: &DeviceId, on_revoked: OnMakerRevoked) -> Result<TxHandle> {
        // the contract's `MakerRevoked` also means "revoked" to onboarding: say it precisely
        if !self.maker(maker).await?.active {
            return Err(Error::AlreadyRevoked(format!("maker {maker}")));
        }
        let call = DeviceRegistry::revokeMakerCall {
            maker: device_address(maker)?,
            suspendDevices: on_revoked == OnMakerRevoked::SuspendDevices,
        };
        self.send(Target::Registry, self.inner.registry, call).await
    }

    async fn maker(&self, maker: &DeviceId) -> Result<MakerRecord> {
        require_secp256k1(maker)?;
        let info = self
            .view::<DeviceRegistry::makerInfoCall>(
                Target::Registry,
                self.inner.registry,
                DeviceRegistry::makerInfoCall {
                    maker: device_address(maker)?,
                },
            )
            .await?;
        Ok(MakerRecord {
            maker: Maker::new(*maker, info.name, info.quota),
            onboarded: info.onboarded,
            active: info.active,
            devices_suspended: info.devicesSuspended,
        })
    }

    async fn set_onboarding(&self, onboarding: Onboarding) -> Result<TxHandle> {
        let call = DeviceRegistry::setMakersOnlyCall {
            only: onboarding == Onboarding::MakersOnly,
        };
        self.send(Target::Registry, self.inner.registry, call).await
    }

    async fn onboarding_challenge(
        &self,
        registration: &DeviceRegistration,
        maker: &DeviceId,
    ) -> Result<OnboardingChallenge> {
        require_secp256k1(maker)?;
        let permit = self.register_permit(registration).await?;
        let (chain, registry) = (self.inner.chain_id, self.inner.registry);
        let maker_digest = permit
            .onboard_digest(device_address(maker)?, chain, registry)
            .0;
        Ok(OnboardingChallenge {
            maker_digest,
            device: match registration.device.key_type() {
                KeyType::Ed25519 => None,
                _ => Some(permit.challenge(chain, registry)),
            },
            evidence_nonce: maker_digest,
        })
    }

    async fn onboard_device(
        &self,
        registration: &DeviceRegistration,
        attestation: &MakerAttestation,
        device_proof: Option<&RegistrationProof>,
        evidence: Option<&HardwareEvidence>,
    ) -> Result<TxHandle> {
        if evidence.is_some() {
            return Err(Error::Unsupported(
                "the EVM registry cannot check hardware evidence on chain; check it off chain before the maker attests"
                    .into(),
            ));
        }
        require_secp256k1(&attestation.maker)?;
        let device_signature: Vec<u8> = match (registration.device.key_type(), device_proof) {
            (KeyType::Secp256k1, Some(RegistrationProof::Eip712(sig))) => sig.to_vec(),
            (KeyType::P256, Some(RegistrationProof::Eip712P256(sig))) => sig.to_vec(),
            (KeyType::Ed25519, None) => Vec::new(),
            _ => return Err(Error::InvalidProof),
        };
        // the contract's order: the maker (unknown, revoked, over quota) before any signature
        let record = match self.maker(&attestation.maker).await {
            Err(Error::NotFound(_)) => None,
            r => Some(r?),
        };
        crate::rules::check_maker_may_onboard(&attestation.maker, record.as_ref())?;
        // the attestation the contract will check, for the nonce it will read
        let permit = self.register_permit(registration).await?;
        self.check_permit_deadline(permit.deadline).await?;
        let maker = device_address(&attestation.maker)?;
        let digest = permit.onboard_digest(maker, self.inner.chain_id, self.inner.registry);
        let maker_signature = recoverable_or_27(&attestation.signature, &digest, maker);
        let call = DeviceRegistry::onboardCall {
            o: DeviceRegistry::Onboarding {
                owner: permit.owner,
                device: permit.device,
                keyType: permit.key_type,
                deviceId: permit.device_id,
                metadataHash: permit.metadata_hash,
                deadline: permit.deadline,
                publicKey: device_public_key(&registration.device)?.into(),
                maker,
            },
            makerSignature: maker_signature.into(),
            deviceSignature: device_signature.into(),
        };
        self.send(Target::Registry, self.inner.registry, call).await
    }
}

#[async_trait]
impl crate::backend::DistributorBackend for EvmBackend {
    /// [`ClaimFormat::OpenZeppelinBound`] to this backend's chain id (read from the node at
    /// connect time and checked against the configuration) and distributor address: the leaf
    /// the `RewardDistributor` checks.
    fn claim_format(&self) -> ClaimFormat {
        ClaimFormat::OpenZeppelinBound {
            chain_id: self.inner.chain_id,
            distributor: self.inner.distributor.into_array(),
        }
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

    /// The signers must be secp256k1 oracles ([`Error::Unsupported`]); an oracle set must be
    /// in effect ([`EvmBackend::schedule_oracle_set`]); the same root again is
    /// [`PublishOutcome::AlreadyPublished`]. The contract checks every signature with
    /// `ecrecover`.
    async fn publish_quorum_root(&self, quorum: &crate::quorum::Quorum) -> Result<PublishOutcome> {
        self.publish_quorum(quorum).await
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
}
