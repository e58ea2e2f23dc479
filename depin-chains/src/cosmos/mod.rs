//! Cosmos backend (feature `cosmos`): a CosmWasm device registry and a distributor that speaks
//! the `cw20-merkle-airdrop` message format, reached over CometBFT RPC; transactions are built
//! with [cosmrs](https://docs.rs/cosmrs) and signed SIGN_MODE_DIRECT.
//!
//! | trait operation | CosmWasm message |
//! |---|---|
//! | [`crate::RegistryBackend::registration_challenge`] | query `nonce {device}`; the device signs [`DeviceRegistration::signing_message`] under [`registration_domain`] |
//! | [`crate::RegistryBackend::register_device`] | registry `register {device, owner, key_type, metadata_hash, deadline, signature}` |
//! | [`crate::RegistryBackend::revoke_device`] | registry `revoke {device}` |
//! | [`crate::RegistryBackend::device`] | registry query `device {device}` |
//! | [`crate::DistributorBackend::publish_root`] | `register_merkle_root {merkle_root, expiration, start, total_amount}`; epoch `e` is stage `e` |
//! | [`crate::DistributorBackend::claim`] | `claim {stage, amount, proof}` against the latest stage, sent by the claiming account |
//! | [`crate::DistributorBackend::claimed`] | query `claimed_amount {address}` |
//! | [`crate::ChainHandle::wait_for_receipt`] | CometBFT `tx` by hash, polled |
//!
//! Every execute is simulated first (`/cosmos.tx.v1beta1.Service/Simulate`); the gas limit is
//! `ceil(simulated * gas_adjustment_percent / 100)` and the fee `ceil(gas_limit * gas_price)`.
//! Contract errors from the simulation become typed [`Error`]s. Account number and sequence are
//! read from `/cosmos.auth.v1beta1.Query/Account`, cached per handle and advanced after each
//! accepted broadcast; a sequence mismatch (code 32) re-reads them and signs again.
//!
//! What is and is not tested against a live chain is listed in `docs/chains-evm-cosmos.md`.

pub mod msgs;
pub mod rpc;
pub mod tx;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cosmrs::proto::cosmos::auth::v1beta1::{
    BaseAccount, QueryAccountRequest, QueryAccountResponse,
};
use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
use cosmrs::proto::cosmwasm::wasm::v1::{
    QuerySmartContractStateRequest, QuerySmartContractStateResponse,
};
use cosmrs::proto::prost::Message;
use cosmrs::AccountId;
use depin_core::{DeviceId, Domain, Epoch, KeyType, NetworkId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use self::msgs::{
    AirdropExecute, AirdropQuery, ClaimedAmountResponse, DeviceResponse, LatestStageResponse,
    MerkleRootResponse, NonceResponse, RegistryExecute, RegistryQuery,
};
use self::rpc::CometRpc;
use self::tx::{
    adjusted_gas, execute_contract, sign_tx, simulation_tx, CosmosSigner, GasPrice, TxParams,
};
use crate::backend::ChainBackend;
use crate::config::CosmosConfig;
use crate::error::{Error, Result};
use crate::types::{
    Account, BackendKind, Claim, ClaimFormat, DeviceRecord, DeviceRegistration, EpochRoot,
    PublishOutcome, Receipt, RegistrationChallenge, RegistrationProof, TxHandle, TxStatus,
};

/// How often [`crate::ChainHandle::wait_for_receipt`] polls.
pub const RECEIPT_POLL: Duration = Duration::from_millis(500);
/// Times a transaction is re-signed after a sequence mismatch.
const SEQUENCE_RESYNCS: u32 = 3;
/// Cosmos SDK codespace `sdk` codes the backend reacts to.
const CODE_INSUFFICIENT_FUNDS: u32 = 5;
const CODE_INSUFFICIENT_FEE: u32 = 13;
const CODE_TX_IN_MEMPOOL: u32 = 19;
const CODE_WRONG_SEQUENCE: u32 = 32;

/// Open a Cosmos backend handle from configuration, as a trait object.
pub async fn connect(config: &CosmosConfig) -> Result<Arc<dyn ChainBackend>> {
    Ok(Arc::new(CosmosBackend::connect(config).await?))
}

/// The registration signing domain of a registry contract: depin-core [`Domain`] whose network
/// id is `"cw"` followed by the first 15 bytes, in hex, of
/// `SHA-256("depin-rs/cosmwasm-registry" || 0x00 || chain_id || 0x00 || contract)`, so a
/// registration signed for one chain and contract verifies on no other. The contract computes
/// the same from `env.block.chain_id` and `env.contract.address`.
pub fn registration_domain(chain_id: &str, contract: &str) -> Result<Domain> {
    let mut h = Sha256::new();
    h.update(b"depin-rs/cosmwasm-registry");
    h.update([0]);
    h.update(chain_id.as_bytes());
    h.update([0]);
    h.update(contract.as_bytes());
    let digest = h.finalize();
    let id = format!("cw{}", hex::encode(&digest[..15]));
    Ok(Domain::new(NetworkId::new(&id)?))
}

/// Which contract a message goes to, for error mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Registry,
    Distributor,
}

/// Map a contract or SDK error log onto [`Error`].
fn map_log(target: Target, log: &str) -> Error {
    let l = log.to_ascii_lowercase();
    let has = |s: &str| l.contains(s);
    match target {
        Target::Registry if has("already registered") => {
            return Error::AlreadyRegistered(log.into())
        }
        Target::Registry if has("already revoked") => return Error::AlreadyRevoked(log.into()),
        Target::Registry if has("device not found") => return Error::NotFound(log.into()),
        Target::Registry if has("invalid signature") => return Error::InvalidProof,
        Target::Registry if has("unsupported key type") => return Error::Unsupported(log.into()),
        Target::Registry if has("registration expired") => {
            return Error::Expired {
                deadline: number_after(log, "deadline").unwrap_or(0) as u64,
            }
        }
        Target::Distributor if has("verification failed") || has("wrong length") => {
            return Error::InvalidProof
        }
        Target::Distributor if has("cannot sub with") => {
            return Error::InsufficientFunds {
                available: number_after(log, "cannot sub with").unwrap_or(0),
                required: number_after(log, " and").unwrap_or(0),
            }
        }
        Target::Distributor if has("invalid input") => return Error::InvalidInput(log.into()),
        _ => {}
    }
    if has("unauthorized") {
        return Error::Unauthorized(log.into());
    }
    if has("insufficient funds") {
        return sdk_insufficient_funds(log);
    }
    Error::Reverted { reason: log.into() }
}

/// The bank module's "spendable balance X is smaller than Y" as [`Error::InsufficientFunds`].
fn sdk_insufficient_funds(log: &str) -> Error {
    Error::InsufficientFunds {
        available: number_after(log, "spendable balance").unwrap_or(0),
        required: number_after(log, "smaller than").unwrap_or(0),
    }
}

/// Whether a node log reports an account sequence mismatch (our cached sequence is stale).
fn is_sequence_log(log: &str) -> bool {
    log.to_ascii_lowercase()
        .contains("account sequence mismatch")
}

/// The first decimal number after `key` in `text` (case-insensitive).
fn number_after(text: &str, key: &str) -> Option<u128> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find(&key.to_ascii_lowercase())? + key.len();
    let digits: String = lower[start..]
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AccountState {
    number: u64,
    sequence: u64,
}

/// A handle on the CosmWasm contracts, acting as one account (the signer of [`CosmosConfig`]).
///
/// Cheap to clone: clones share the RPC client and the sequence cache.
#[derive(Clone)]
pub struct CosmosBackend {
    inner: Arc<Inner>,
}

struct Inner {
    rpc: CometRpc,
    signer: CosmosSigner,
    chain_id: String,
    prefix: String,
    registry: AccountId,
    distributor: AccountId,
    fee_denom: String,
    gas_price: GasPrice,
    gas_adjustment_percent: u32,
    receipt_timeout: Duration,
    domain: Domain,
    account: Mutex<Option<AccountState>>,
    sent: std::sync::Mutex<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for CosmosBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosmosBackend")
            .field("account", &self.inner.signer.address().to_string())
            .field("chain_id", &self.inner.chain_id)
            .field("registry", &self.inner.registry.to_string())
            .field("distributor", &self.inner.distributor.to_string())
            .finish()
    }
}

fn parse_contract(addr: &str, prefix: &str, what: &str) -> Result<AccountId> {
    let id: AccountId = addr
        .parse()
        .map_err(|e| Error::Config(format!("invalid {what} address {addr:?}: {e}")))?;
    if id.prefix() != prefix {
        return Err(Error::Config(format!(
            "{what} address {addr} does not use the account prefix {prefix:?}"
        )));
    }
    Ok(id)
}

fn parse_amount(s: &str, what: &str) -> Result<u128> {
    s.parse()
        .map_err(|_| Error::permanent(format!("{what} {s:?} is not a decimal amount")))
}

fn parse_root(s: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| Error::permanent(format!("merkle root {s:?} is not 32 bytes of hex")))?;
    Ok(out)
}

/// The cw20-merkle-airdrop stage of an epoch (stages are `u8`, from 1).
fn stage_of(epoch: Epoch) -> Option<u8> {
    u8::try_from(epoch.0).ok().filter(|s| *s >= 1)
}

impl CosmosBackend {
    /// Connect: validate the configuration and check the node's chain id (`status`).
    pub async fn connect(config: &CosmosConfig) -> Result<Self> {
        let rpc = CometRpc::new(&config.rpc_url, config.retry)?;
        let signer = CosmosSigner::new(&config.signer.0, &config.account_prefix)?;
        let registry = parse_contract(
            &config.registry_contract,
            &config.account_prefix,
            "registry",
        )?;
        let distributor = parse_contract(
            &config.distributor_contract,
            &config.account_prefix,
            "distributor",
        )?;
        let gas_price = GasPrice::parse(&config.gas_price)?;
        if config.gas_adjustment_percent < 100 {
            return Err(Error::Config(
                "gas_adjustment_percent below 100 would under-provision gas".into(),
            ));
        }
        let domain = registration_domain(&config.chain_id, &config.registry_contract)?;
        let status = rpc.call("status", serde_json::json!({})).await?;
        let network = status["node_info"]["network"].as_str().unwrap_or_default();
        if network != config.chain_id {
            return Err(Error::Config(format!(
                "the node at {} is chain {network:?}, configuration expects {:?}",
                config.rpc_url, config.chain_id
            )));
        }
        Ok(CosmosBackend {
            inner: Arc::new(Inner {
                rpc,
                signer,
                chain_id: config.chain_id.clone(),
                prefix: config.account_prefix.clone(),
                registry,
                distributor,
                fee_denom: config.fee_denom.clone(),
                gas_price,
                gas_adjustment_percent: config.gas_adjustment_percent,
                receipt_timeout: config.receipt_timeout,
                domain,
                account: Mutex::new(None),
                sent: std::sync::Mutex::new(HashSet::new()),
            }),
        })
    }

    /// The bech32 address transactions are signed with.
    pub fn address(&self) -> String {
        self.inner.signer.address().to_string()
    }

    /// The registration signing domain of the configured registry.
    pub fn domain(&self) -> &Domain {
        &self.inner.domain
    }

    async fn query_account(&self) -> Result<AccountState> {
        let req = QueryAccountRequest {
            address: self.address(),
        };
        let r = self
            .inner
            .rpc
            .abci_query("/cosmos.auth.v1beta1.Query/Account", &req.encode_to_vec())
            .await?;
        if r.code != 0 {
            return Err(if r.log.to_ascii_lowercase().contains("not found") {
                Error::NotFound(format!(
                    "account {} does not exist on chain yet (send it funds first)",
                    self.address()
                ))
            } else {
                Error::permanent(format!("account query failed: {}", r.log))
            });
        }
        let resp = QueryAccountResponse::decode(r.value.as_slice())
            .map_err(|e| Error::permanent(format!("account answer does not decode: {e}")))?;
        let any = resp
            .account
            .ok_or_else(|| Error::permanent("account answer without an account"))?;
        if any.type_url != "/cosmos.auth.v1beta1.BaseAccount" {
            return Err(Error::Unsupported(format!(
                "account type {} (only BaseAccount signers are supported)",
                any.type_url
            )));
        }
        let base = BaseAccount::decode(any.value.as_slice())
            .map_err(|e| Error::permanent(format!("BaseAccount does not decode: {e}")))?;
        Ok(AccountState {
            number: base.account_number,
            sequence: base.sequence,
        })
    }

    async fn simulate(&self, target: Target, tx_bytes: Vec<u8>) -> Result<u64> {
        #[allow(deprecated)]
        let req = SimulateRequest { tx: None, tx_bytes };
        let r = self
            .inner
            .rpc
            .abci_query("/cosmos.tx.v1beta1.Service/Simulate", &req.encode_to_vec())
            .await?;
        if r.code != 0 {
            return Err(sim_error(target, &r.log));
        }
        let resp = SimulateResponse::decode(r.value.as_slice())
            .map_err(|e| Error::permanent(format!("simulation answer does not decode: {e}")))?;
        resp.gas_info
            .map(|g| g.gas_used)
            .ok_or_else(|| Error::permanent("simulation answer without gas info"))
    }

    /// Simulate, sign and broadcast one `MsgExecuteContract`.
    async fn execute<T: Serialize + Sync>(
        &self,
        target: Target,
        contract: &AccountId,
        msg: &T,
    ) -> Result<TxHandle> {
        let any = execute_contract(self.inner.signer.address(), contract, msg)?;
        let mut slot = self.inner.account.lock().await;
        let mut resyncs = 0u32;
        loop {
            let acct = match *slot {
                Some(a) => a,
                None => self.query_account().await?,
            };
            let mut params = TxParams {
                chain_id: self.inner.chain_id.clone(),
                account_number: acct.number,
                sequence: acct.sequence,
                gas_limit: 0,
                fee_amount: 0,
                fee_denom: self.inner.fee_denom.clone(),
                memo: String::new(),
            };
            let sim = simulation_tx(&self.inner.signer, vec![any.clone()], &params)?;
            let simulated = match self.simulate(target, sim).await {
                Ok(g) => g,
                Err(e) if is_sequence_error(&e) && resyncs < SEQUENCE_RESYNCS => {
                    resyncs += 1;
                    *slot = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            params.gas_limit = adjusted_gas(simulated, self.inner.gas_adjustment_percent);
            params.fee_amount = self.inner.gas_price.fee_for(params.gas_limit)?;
            let raw = sign_tx(&self.inner.signer, vec![any.clone()], &params)?;
            let hash: [u8; 32] = Sha256::digest(&raw).into();
            let check = match self.inner.rpc.broadcast_tx_sync(&raw).await {
                Ok(c) => c,
                Err(e) => {
                    // Unknown whether the node took it: re-read the sequence next time.
                    *slot = None;
                    return Err(e);
                }
            };
            let accepted =
                check.code == 0 || (check.codespace == "sdk" && check.code == CODE_TX_IN_MEMPOOL);
            if accepted {
                *slot = Some(AccountState {
                    number: acct.number,
                    sequence: acct.sequence.saturating_add(1),
                });
                if let Ok(mut sent) = self.inner.sent.lock() {
                    sent.insert(hash);
                }
                return Ok(TxHandle(hash));
            }
            if check.codespace == "sdk" && check.code == CODE_WRONG_SEQUENCE {
                *slot = None;
                resyncs += 1;
                if resyncs > SEQUENCE_RESYNCS {
                    return Err(Error::transient(format!(
                        "account sequence mismatch persisted: {}",
                        check.log
                    )));
                }
                continue;
            }
            return Err(check_tx_error(
                target,
                check.codespace.as_str(),
                check.code,
                &check.log,
            ));
        }
    }

    async fn smart_query<Q: Serialize + Sync, R: DeserializeOwned>(
        &self,
        target: Target,
        contract: &AccountId,
        query: &Q,
    ) -> Result<R> {
        let req = QuerySmartContractStateRequest {
            address: contract.to_string(),
            query_data: serde_json::to_vec(query)
                .map_err(|e| Error::InvalidInput(format!("query JSON: {e}")))?,
        };
        let r = self
            .inner
            .rpc
            .abci_query(
                "/cosmwasm.wasm.v1.Query/SmartContractState",
                &req.encode_to_vec(),
            )
            .await?;
        if r.code != 0 {
            return Err(map_log(target, &r.log));
        }
        let resp = QuerySmartContractStateResponse::decode(r.value.as_slice())
            .map_err(|e| Error::permanent(format!("query answer does not decode: {e}")))?;
        serde_json::from_slice(&resp.data)
            .map_err(|e| Error::permanent(format!("query answer is not the expected JSON: {e}")))
    }

    async fn latest_stage(&self) -> Result<u8> {
        let r: LatestStageResponse = self
            .smart_query(
                Target::Distributor,
                &self.inner.distributor,
                &AirdropQuery::LatestStage {},
            )
            .await?;
        Ok(r.latest_stage)
    }

    async fn stage_root(&self, stage: u8) -> Result<MerkleRootResponse> {
        self.smart_query(
            Target::Distributor,
            &self.inner.distributor,
            &AirdropQuery::MerkleRoot { stage },
        )
        .await
    }

    fn cosmos_account<'a>(&self, account: &'a Account) -> Result<&'a str> {
        let s = account
            .as_cosmos()
            .ok_or_else(|| Error::InvalidInput(format!("{account} is not a Cosmos address")))?;
        if !s.starts_with(&format!("{}1", self.inner.prefix)) {
            return Err(Error::InvalidInput(format!(
                "{s} does not use the chain's prefix {:?}",
                self.inner.prefix
            )));
        }
        Ok(s)
    }

    /// cw20 balance of `who`, via the distributor's `config {}` token address.
    async fn cw20_balance(&self, who: &str) -> Result<u128> {
        #[derive(serde::Deserialize)]
        struct Config {
            cw20_token_address: String,
        }
        #[derive(serde::Deserialize)]
        struct Balance {
            balance: String,
        }
        let cfg: Config = self
            .smart_query(
                Target::Distributor,
                &self.inner.distributor,
                &serde_json::json!({"config": {}}),
            )
            .await?;
        let token = parse_contract(&cfg.cw20_token_address, &self.inner.prefix, "cw20 token")?;
        let b: Balance = self
            .smart_query(
                Target::Distributor,
                &token,
                &serde_json::json!({"balance": {"address": who}}),
            )
            .await?;
        parse_amount(&b.balance, "cw20 balance")
    }
}

fn is_sequence_error(e: &Error) -> bool {
    match e {
        Error::Reverted { reason } => is_sequence_log(reason),
        _ => false,
    }
}

fn sim_error(target: Target, log: &str) -> Error {
    if is_sequence_log(log) {
        return Error::Reverted { reason: log.into() };
    }
    map_log(target, log)
}

fn check_tx_error(target: Target, codespace: &str, code: u32, log: &str) -> Error {
    if codespace == "sdk" && code == CODE_INSUFFICIENT_FEE {
        return Error::Config(format!(
            "the node wants a higher fee (raise gas_price): {log}"
        ));
    }
    if codespace == "sdk" && code == CODE_INSUFFICIENT_FUNDS {
        return sdk_insufficient_funds(log);
    }
    map_log(target, log)
}

#[async_trait]
impl crate::backend::ChainHandle for CosmosBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cosmos
    }

    fn account(&self) -> Option<Account> {
        Some(Account::Cosmos(self.address()))
    }

    async fn wait_for_receipt(&self, tx: &TxHandle) -> Result<Receipt> {
        let started = Instant::now();
        let ours = self
            .inner
            .sent
            .lock()
            .map(|s| s.contains(&tx.0))
            .unwrap_or(false);
        loop {
            if let Some(r) = self.inner.rpc.tx(&tx.0).await? {
                let status = if r.code == 0 {
                    TxStatus::Success
                } else {
                    TxStatus::Reverted { reason: r.log }
                };
                return Ok(Receipt {
                    tx: *tx,
                    block: r.height,
                    status,
                });
            }
            if !ours {
                return Err(Error::NotFound(format!("transaction {tx}")));
            }
            if started.elapsed() >= self.inner.receipt_timeout {
                return Err(Error::transient(format!(
                    "transaction {tx} not committed after {:?}",
                    self.inner.receipt_timeout
                )));
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
    }
}

#[async_trait]
impl crate::backend::RegistryBackend for CosmosBackend {
    async fn registration_challenge(
        &self,
        registration: &DeviceRegistration,
    ) -> Result<RegistrationChallenge> {
        self.cosmos_account(&registration.owner)?;
        let r: NonceResponse = self
            .smart_query(
                Target::Registry,
                &self.inner.registry,
                &RegistryQuery::Nonce {
                    device: registration.device.to_string(),
                },
            )
            .await?;
        Ok(RegistrationChallenge::Domain {
            domain: self.inner.domain,
            message: registration.signing_message(r.nonce),
        })
    }

    async fn register_device(
        &self,
        registration: &DeviceRegistration,
        proof: &RegistrationProof,
    ) -> Result<TxHandle> {
        let owner = self.cosmos_account(&registration.owner)?.to_string();
        let RegistrationProof::Domain(signature) = proof else {
            return Err(Error::Unsupported(
                "the CosmWasm registry needs a domain signature (RegistrationProof::Domain)".into(),
            ));
        };
        // The contract checks the same; failing here saves the simulation round trip.
        let challenge = self.registration_challenge(registration).await?;
        let pk = registration.device.public_key()?;
        if pk.verify_prehash(&challenge.digest(), signature).is_err() {
            return Err(Error::InvalidProof);
        }
        let msg = RegistryExecute::Register {
            device: registration.device.to_string(),
            owner,
            key_type: registration.key_type().tag(),
            metadata_hash: hex::encode(registration.metadata_hash()),
            deadline: registration.deadline,
            signature: hex::encode(signature.to_bytes()),
        };
        self.execute(Target::Registry, &self.inner.registry, &msg)
            .await
    }

    async fn revoke_device(&self, device: &DeviceId) -> Result<TxHandle> {
        let msg = RegistryExecute::Revoke {
            device: device.to_string(),
        };
        self.execute(Target::Registry, &self.inner.registry, &msg)
            .await
    }

    async fn device(&self, device: &DeviceId) -> Result<DeviceRecord> {
        let r: DeviceResponse = self
            .smart_query(
                Target::Registry,
                &self.inner.registry,
                &RegistryQuery::Device {
                    device: device.to_string(),
                },
            )
            .await?;
        Ok(DeviceRecord {
            device: *device,
            owner: Account::cosmos(&r.owner)?,
            key_type: KeyType::from_tag(r.key_type)?,
            metadata_hash: parse_root(&r.metadata_hash)?,
            active: r.active,
            trust: Default::default(),
        })
    }
}

#[async_trait]
impl crate::backend::DistributorBackend for CosmosBackend {
    fn claim_format(&self) -> ClaimFormat {
        ClaimFormat::Cw20MerkleAirdrop
    }

    async fn publish_root(&self, root: &EpochRoot) -> Result<PublishOutcome> {
        root.check_publishable()?;
        let stage = stage_of(root.epoch).ok_or_else(|| {
            Error::Unsupported(format!(
                "cw20-merkle-airdrop stages are 1..=255; {} has no stage",
                root.epoch
            ))
        })?;
        let latest = self.latest_stage().await?;
        if stage <= latest {
            let existing = self.stage_root(stage).await?;
            return root.republish(&EpochRoot {
                epoch: root.epoch,
                root: parse_root(&existing.merkle_root)?,
                total: parse_amount(&existing.total_amount, "total_amount")?,
            });
        }
        if u16::from(stage) != u16::from(latest) + 1 {
            return Err(Error::Unsupported(format!(
                "cw20-merkle-airdrop stages are consecutive: the next epoch to publish is {}",
                u16::from(latest) + 1
            )));
        }
        let msg = AirdropExecute::RegisterMerkleRoot {
            merkle_root: hex::encode(root.root),
            expiration: None,
            start: None,
            total_amount: Some(root.total.to_string()),
        };
        let tx = self
            .execute(Target::Distributor, &self.inner.distributor, &msg)
            .await?;
        Ok(PublishOutcome::Published(tx))
    }

    async fn epoch_root(&self, epoch: Epoch) -> Result<Option<EpochRoot>> {
        let Some(stage) = stage_of(epoch) else {
            return Ok(None);
        };
        if stage > self.latest_stage().await? {
            return Ok(None);
        }
        let r = self.stage_root(stage).await?;
        Ok(Some(EpochRoot {
            epoch,
            root: parse_root(&r.merkle_root)?,
            total: parse_amount(&r.total_amount, "total_amount")?,
        }))
    }

    async fn claim(&self, claim: &Claim) -> Result<TxHandle> {
        let account = self.cosmos_account(&claim.account)?;
        if account != self.address() {
            return Err(Error::Unauthorized(format!(
                "cw20-merkle-airdrop pays the sender: {account} must submit its own claim (this handle is {})",
                self.address()
            )));
        }
        let latest = self.latest_stage().await?;
        if latest == 0 {
            return Err(Error::NoRoot);
        }
        let root = parse_root(&self.stage_root(latest).await?.merkle_root)?;
        if !crate::claims::verify_claim(ClaimFormat::Cw20MerkleAirdrop, &root, claim)? {
            return Err(Error::InvalidProof);
        }
        let msg = AirdropExecute::Claim {
            stage: latest,
            amount: claim.cumulative_amount.to_string(),
            proof: claim.proof.iter().map(hex::encode).collect(),
        };
        match self
            .execute(Target::Distributor, &self.inner.distributor, &msg)
            .await
        {
            Err(Error::Reverted { reason })
                if reason.to_ascii_lowercase().contains("already claimed") =>
            {
                Err(Error::AlreadyClaimed {
                    account: claim.account.clone(),
                    cumulative: claim.cumulative_amount,
                    claimed: self
                        .claimed(&claim.account)
                        .await
                        .unwrap_or(claim.cumulative_amount),
                })
            }
            other => other,
        }
    }

    async fn claimed(&self, account: &Account) -> Result<u128> {
        let address = self.cosmos_account(account)?.to_string();
        let r: ClaimedAmountResponse = self
            .smart_query(
                Target::Distributor,
                &self.inner.distributor,
                &AirdropQuery::ClaimedAmount { address },
            )
            .await
            .map_err(|e| match e {
                Error::Reverted { reason } if reason.contains("unknown variant") => {
                    Error::Unsupported(
                        "the distributor is a plain cw20-merkle-airdrop without `claimed_amount`"
                            .into(),
                    )
                }
                other => other,
            })?;
        parse_amount(&r.claimed, "claimed amount")
    }

    async fn pool_balance(&self) -> Result<Option<u128>> {
        let d = self.inner.distributor.to_string();
        Ok(Some(self.cw20_balance(&d).await?))
    }

    async fn token_balance(&self, account: &Account) -> Result<Option<u128>> {
        let a = self.cosmos_account(account)?.to_string();
        Ok(Some(self.cw20_balance(&a).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_errors_map_to_typed_variants() {
        let wrap = |s: &str| {
            format!(
                "failed to execute message; message index: 0: {s}: execute wasm contract failed"
            )
        };
        assert!(matches!(
            map_log(Target::Distributor, &wrap("Verification failed")),
            Error::InvalidProof
        ));
        assert!(matches!(
            map_log(Target::Distributor, &wrap("Unauthorized")),
            Error::Unauthorized(_)
        ));
        assert!(matches!(
            map_log(
                Target::Distributor,
                &wrap("Overflow: Cannot Sub with 40 and 100")
            ),
            Error::InsufficientFunds {
                available: 40,
                required: 100
            }
        ));
        assert!(matches!(
            map_log(Target::Distributor, &wrap("Already claimed")),
            Error::Reverted { .. }
        ));
        assert!(matches!(
            map_log(Target::Registry, &wrap("Device already registered")),
            Error::AlreadyRegistered(_)
        ));
        assert!(matches!(
            map_log(Target::Registry, &wrap("Device already revoked")),
            Error::AlreadyRevoked(_)
        ));
        assert!(matches!(
            map_log(Target::Registry, &wrap("Device not found")),
            Error::NotFound(_)
        ));
        assert!(matches!(
            map_log(Target::Registry, &wrap("Invalid signature")),
            Error::InvalidProof
        ));
        assert!(matches!(
            map_log(Target::Registry, &wrap("Registration expired: deadline 17")),
            Error::Expired { deadline: 17 }
        ));
        assert!(matches!(
            map_log(Target::Registry, "something else"),
            Error::Reverted { .. }
        ));
        assert!(matches!(
            check_tx_error(
                Target::Distributor,
                "sdk",
                CODE_INSUFFICIENT_FUNDS,
                "spendable balance 10ucosm is smaller than 25ucosm: insufficient funds"
            ),
            Error::InsufficientFunds {
                available: 10,
                required: 25
            }
        ));
        assert!(matches!(
            check_tx_error(
                Target::Distributor,
                "sdk",
                CODE_INSUFFICIENT_FEE,
                "insufficient fee"
            ),
            Error::Config(_)
        ));
        assert!(is_sequence_error(&sim_error(
            Target::Registry,
            "account sequence mismatch, expected 4, got 3"
        )));
    }

    #[test]
    fn registration_domain_binds_chain_and_contract() {
        let a = registration_domain("juno-1", "juno1abc").unwrap();
        let b = registration_domain("juno-2", "juno1abc").unwrap();
        let c = registration_domain("juno-1", "juno1abd").unwrap();
        let d = depin_core::MessageKind::DEVICE_REGISTRATION;
        assert_ne!(a.digest(d, b"m"), b.digest(d, b"m"));
        assert_ne!(a.digest(d, b"m"), c.digest(d, b"m"));
        assert_eq!(
            a.digest(d, b"m"),
            registration_domain("juno-1", "juno1abc")
                .unwrap()
                .digest(d, b"m")
        );
    }

    #[test]
    fn stages_are_epochs_1_to_255() {
        assert_eq!(stage_of(Epoch(0)), None);
        assert_eq!(stage_of(Epoch(1)), Some(1));
        assert_eq!(stage_of(Epoch(255)), Some(255));
        assert_eq!(stage_of(Epoch(256)), None);
    }
}
