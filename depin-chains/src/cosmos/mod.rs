//! Cosmos backend (feature `cosmos`): the depin-rs CosmWasm device registry and cumulative
//! distributor (`contracts/cosmwasm/`), reached over CometBFT RPC; transactions are built
//! with [cosmrs](https://docs.rs/cosmrs) and signed SIGN_MODE_DIRECT. The messages are the
//! types of [`depin_cosmwasm_msgs`] ([`msgs`]), the same the contracts deserialize.
//!
//! | trait operation | CosmWasm message |
//! |---|---|
//! | [`crate::RegistryBackend::registration_challenge`] | registry query `nonce {device}`; the device signs [`msgs::signing::registration_payload`] under [`registration_domain`] |
//! | [`crate::RegistryBackend::register_device`] | registry `register {registration, signature}` |
//! | [`crate::RegistryBackend::onboard_device`] | registry `onboard {registration, maker, maker_signature, signature}` |
//! | [`crate::RegistryBackend::revoke_device`] | registry `revoke {device}` |
//! | [`crate::RegistryBackend::device`] | registry query `device {device}` |
//! | [`crate::RegistryBackend::approve_maker`], `revoke_maker`, `maker`, `set_onboarding` | registry `approve_maker`, `revoke_maker`, query `maker`, `set_makers_only` |
//! | [`crate::DistributorBackend::publish_root`] | distributor `publish_root {epoch, merkle_root, total_amount}` (any `u64` epoch above the latest; refused while an oracle set is in effect) |
//! | [`crate::DistributorBackend::publish_quorum_root`] | distributor `publish_quorum_root {epoch, merkle_root, total_amount, signatures}`, relayed by any account; the contract checks each oracle's signature ([`CosmosBackend::schedule_oracle_set`]) |
//! | [`crate::DistributorBackend::claim`] | distributor `claim {account, epoch, amount, proof}` against the latest root (any account may submit it; `account` is paid) |
//! | [`crate::DistributorBackend::fund_pool`] | cw20 `transfer {recipient: distributor, amount}` from this handle's account |
//! | [`crate::DistributorBackend::claimed`] | distributor query `claimed {address}` |
//! | [`crate::ChainHandle::wait_for_receipt`] | CometBFT `tx` by hash, polled |
//!
//! Every execute is simulated first (`/cosmos.tx.v1beta1.Service/Simulate`); the gas limit is
//! `ceil(simulated * gas_adjustment_percent / 100)` and the fee `ceil(gas_limit * gas_price)`.
//! Contract errors carry a code (`[depin:<code>]`, [`msgs::error::ErrorCode`]) that becomes a
//! typed [`Error`]; nothing is recognised by the wording of a message. Account number and
//! sequence are read from `/cosmos.auth.v1beta1.Query/Account`, cached per handle and
//! advanced after each accepted broadcast; a sequence mismatch (code 32) re-reads them and
//! signs again.
//!
//! What is and is not tested, and how, is listed in `docs/chains-evm-cosmos.md`: the
//! contracts run in cw-multi-test and, built, in cosmwasm-vm; this backend's transactions
//! run against those same contracts behind a CometBFT RPC stand-in and verify with cosmjs;
//! no live chain.

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
use depin_core::{DeviceId, Domain, Epoch, KeyType};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use self::msgs::distributor::{
    ClaimedResponse, ConfigResponse as DistributorConfig, ExecuteMsg as DistributorExecute,
    LatestRootResponse, OracleSetsResponse, OracleSignature, QueryMsg as DistributorQuery,
    RootResponse,
};
use self::msgs::error::ErrorCode;
use self::msgs::registry::{
    DeviceResponse, ExecuteMsg as RegistryExecute, MakerResponse, NonceResponse,
    QueryMsg as RegistryQuery, Registration,
};
use self::rpc::CometRpc;
use self::tx::{
    adjusted_gas, execute_contract, sign_tx, simulation_tx, CosmosSigner, GasPrice, TxParams,
};
use crate::backend::ChainBackend;
use crate::config::CosmosConfig;
use crate::error::{Error, Result};
use crate::makers::{
    DeviceTrust, HardwareEvidence, Maker, MakerAttestation, MakerRecord, OnMakerRevoked,
    Onboarding, OnboardingChallenge, TrustLevel,
};
use crate::types::{
    Account, BackendKind, Claim, ClaimFormat, DeviceRegistration, EpochRoot, PublishOutcome,
    Receipt, RegisteredDevice, RegistrationChallenge, RegistrationProof, TxHandle, TxStatus,
};

/// How long an oracle set waits between being scheduled and taking effect (seconds).
pub const ORACLE_SET_DELAY: u64 = msgs::distributor::ORACLE_SET_DELAY_SECONDS;

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

/// The registration signing domain of a registry contract
/// ([`msgs::signing::registration_domain`]): the depin-core [`Domain`] whose network id is
/// `"cw"` followed by the first 15 bytes, in hex, of
/// `SHA-256("depin-rs/cosmwasm-registry" || 0x00 || chain_id || 0x00 || contract)`, so a
/// registration signed for one chain and contract verifies on no other. The contract computes
/// the same from `env.block.chain_id` and `env.contract.address`.
pub fn registration_domain(chain_id: &str, contract: &str) -> Result<Domain> {
    Ok(msgs::signing::registration_domain(chain_id, contract)?)
}

/// Map a contract or SDK error log onto [`Error`]: by the contract's error code where the
/// log carries one ([`ErrorCode::find`]).
fn map_log(log: &str) -> Error {
    let n = |key: &str| number_after(log, key).unwrap_or(0);
    match ErrorCode::find(log) {
        Some(ErrorCode::Unauthorized | ErrorCode::MakersOnly | ErrorCode::NoPendingAdmin) => {
            Error::Unauthorized(log.into())
        }
        Some(ErrorCode::InvalidInput) => Error::InvalidInput(log.into()),
        Some(ErrorCode::AlreadyRegistered) => Error::AlreadyRegistered(log.into()),
        Some(ErrorCode::AlreadyRevoked) => Error::AlreadyRevoked(log.into()),
        Some(ErrorCode::DeviceNotFound | ErrorCode::MakerNotFound | ErrorCode::EpochNotFound) => {
            Error::NotFound(log.into())
        }
        Some(ErrorCode::InvalidSignature | ErrorCode::InvalidProof) => Error::InvalidProof,
        Some(ErrorCode::Expired) => Error::Expired {
            deadline: n("deadline") as u64,
        },
        Some(ErrorCode::DeadlineTooFar) => Error::DeadlineTooFar {
            deadline: n("deadline") as u64,
            max: n("accepted now is") as u64,
        },
        Some(ErrorCode::QuotaExceeded) => Error::QuotaExceeded {
            maker: text_between(log, "maker ", " onboarded").unwrap_or_default(),
            quota: n("quota of") as u64,
        },
        Some(ErrorCode::EpochAlreadyPublished) => Error::EpochAlreadyPublished {
            epoch: Epoch(n("] epoch") as u64),
        },
        Some(ErrorCode::EpochNotIncreasing) => Error::EpochNotIncreasing {
            epoch: Epoch(n("] epoch") as u64),
            latest: Epoch(n("the latest,") as u64),
        },
        Some(ErrorCode::NoRoot) => Error::NoRoot,
        Some(ErrorCode::InsufficientPool) => Error::InsufficientFunds {
            available: n("pool holds"),
            required: n("claim pays"),
        },
        // AlreadyClaimed (the caller adds the amounts), ExceedsTotal, codes of a newer
        // contract: the log as it is
        Some(_) => Error::Reverted { reason: log.into() },
        None if log.to_ascii_lowercase().contains("unauthorized") => {
            Error::Unauthorized(log.into())
        }
        None if log.to_ascii_lowercase().contains("insufficient funds") => {
            sdk_insufficient_funds(log)
        }
        None => Error::Reverted { reason: log.into() },
    }
}

/// The text between `start` and `end` in `text`.
fn text_between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text.get(from..)?.find(end)?;
    text.get(from..from + len).map(str::to_string)
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

    /// The distributor as the oracles' [`crate::quorum::RootStatement`]s name it:
    /// [`msgs::signing::distributor_binding`] of the chain id and the distributor's address.
    pub fn quorum_distributor(&self) -> Vec<u8> {
        msgs::signing::distributor_binding(&self.inner.chain_id, self.inner.distributor.as_ref())
            .to_vec()
    }

    /// The statement the oracles sign for `root` on this distributor.
    pub fn root_statement(&self, root: &EpochRoot) -> crate::quorum::RootStatement {
        crate::quorum::RootStatement::new(
            self.quorum_distributor(),
            root.epoch,
            root.root,
            root.total,
        )
    }

    /// Schedule `set` as the oracles whose quorum publishes roots from `effective_at` (unix
    /// seconds, block time) on: admin only ([`Error::Unauthorized`]), at least
    /// [`ORACLE_SET_DELAY`] after the block time ([`Error::InvalidInput`]); it replaces a set
    /// scheduled and not yet in effect. From then on `publish_root` by the single oracle is
    /// [`Error::Unauthorized`]. The oracles sign in the network's domain given at the
    /// distributor's instantiation (no chain id: the statement's distributor binds the chain).
    pub async fn schedule_oracle_set(
        &self,
        set: &crate::quorum::OracleSet,
        effective_at: u64,
    ) -> Result<TxHandle> {
        let threshold = u32::try_from(set.threshold())
            .map_err(|_| Error::InvalidInput("threshold above u32".into()))?;
        let msg = DistributorExecute::ScheduleOracleSet {
            oracles: set.oracles().map(|o| o.to_string()).collect(),
            threshold,
            effective_at,
        };
        self.execute(&self.inner.distributor, &msg).await
    }

    /// The oracle set in effect (`None`: the single oracle publishes), and the one scheduled.
    pub async fn oracle_sets(
        &self,
    ) -> Result<(
        Option<crate::quorum::OracleSet>,
        Option<(crate::quorum::OracleSet, u64)>,
    )> {
        let r: OracleSetsResponse = self
            .smart_query(&self.inner.distributor, &DistributorQuery::OracleSets {})
            .await?;
        let parse = |s: &msgs::distributor::OracleSetResponse| -> Result<crate::quorum::OracleSet> {
            let ids = s
                .oracles
                .iter()
                .map(|o| o.parse::<DeviceId>().map_err(Error::from))
                .collect::<Result<Vec<_>>>()?;
            crate::quorum::OracleSet::new(ids, s.threshold as usize)
        };
        Ok((
            r.current.as_ref().map(parse).transpose()?,
            match &r.scheduled {
                Some(s) => Some((parse(s)?, s.effective_at)),
                None => None,
            },
        ))
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

    async fn simulate(&self, tx_bytes: Vec<u8>) -> Result<u64> {
        #[allow(deprecated)]
        let req = SimulateRequest { tx: None, tx_bytes };
        let r = self
            .inner
            .rpc
            .abci_query("/cosmos.tx.v1beta1.Service/Simulate", &req.encode_to_vec())
            .await?;
        if r.code != 0 {
            return Err(sim_error(&r.log));
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
            let simulated = match self.simulate(sim).await {
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
                check.codespace.as_str(),
                check.code,
                &check.log,
            ));
        }
    }

    async fn smart_query<Q: Serialize + Sync, R: DeserializeOwned>(
        &self,
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
            return Err(map_log(&r.log));
        }
        let resp = QuerySmartContractStateResponse::decode(r.value.as_slice())
            .map_err(|e| Error::permanent(format!("query answer does not decode: {e}")))?;
        serde_json::from_slice(&resp.data)
            .map_err(|e| Error::permanent(format!("query answer is not the expected JSON: {e}")))
    }

    async fn latest_root(&self) -> Result<Option<RootResponse>> {
        let r: LatestRootResponse = self
            .smart_query(&self.inner.distributor, &DistributorQuery::LatestRoot {})
            .await?;
        Ok(r.root)
    }

    async fn root_of(&self, epoch: Epoch) -> Result<Option<RootResponse>> {
        match self
            .smart_query(
                &self.inner.distributor,
                &DistributorQuery::Root { epoch: epoch.0 },
            )
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn registry_query<R: DeserializeOwned>(&self, q: &RegistryQuery) -> Result<R> {
        self.smart_query(&self.inner.registry, q).await
    }

    async fn nonce(&self, device: &DeviceId) -> Result<u64> {
        let r: NonceResponse = self
            .registry_query(&RegistryQuery::Nonce {
                device: device.to_string(),
            })
            .await?;
        Ok(r.nonce)
    }

    /// The registration as the contract's message carries it.
    fn registration_msg(&self, registration: &DeviceRegistration) -> Result<Registration> {
        Ok(Registration {
            device: registration.device.to_string(),
            owner: self.cosmos_account(&registration.owner)?.to_string(),
            metadata_hash: hex::encode(registration.metadata_hash()),
            deadline: registration.deadline,
        })
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

    /// The cw20 token the distributor pays in (its `config {}`).
    async fn token(&self) -> Result<AccountId> {
        let cfg: DistributorConfig = self
            .smart_query(&self.inner.distributor, &DistributorQuery::Config {})
            .await?;
        parse_contract(&cfg.token, &self.inner.prefix, "cw20 token")
    }

    /// cw20 balance of `who`.
    async fn cw20_balance(&self, who: &str) -> Result<u128> {
        #[derive(serde::Deserialize)]
        struct Balance {
            balance: String,
        }
        let token = self.token().await?;
        let b: Balance = self
            .smart_query(&token, &serde_json::json!({"balance": {"address": who}}))
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

fn sim_error(log: &str) -> Error {
    if is_sequence_log(log) {
        return Error::Reverted { reason: log.into() };
    }
    map_log(log)
}

fn check_tx_error(codespace: &str, code: u32, log: &str) -> Error {
    if codespace == "sdk" && code == CODE_INSUFFICIENT_FEE {
        return Error::Config(format!(
            "the node wants a higher fee (raise gas_price): {log}"
        ));
    }
    if codespace == "sdk" && code == CODE_INSUFFICIENT_FUNDS {
        return sdk_insufficient_funds(log);
    }
    map_log(log)
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
        let owner = self.cosmos_account(&registration.owner)?;
        let nonce = self.nonce(&registration.device).await?;
        Ok(RegistrationChallenge::Domain {
            domain: self.inner.domain,
            message: msgs::signing::registration_payload(
                &registration.device,
                owner,
                &registration.metadata_hash(),
                nonce,
                registration.deadline,
            ),
        })
    }

    async fn register_device(
        &self,
        registration: &DeviceRegistration,
        proof: &RegistrationProof,
    ) -> Result<TxHandle> {
        let msg = self.registration_msg(registration)?;
        let RegistrationProof::Domain(signature) = proof else {
            return Err(Error::Unsupported(
                "the CosmWasm registry needs a domain signature (RegistrationProof::Domain)".into(),
            ));
        };
        // No check here: the contract's simulation is the authority, and answers in the
        // contract's order (expired, already registered, makers only, then the signature).
        let msg = RegistryExecute::Register {
            registration: msg,
            signature: hex::encode(signature.to_bytes()),
        };
        self.execute(&self.inner.registry, &msg).await
    }

    async fn revoke_device(&self, device: &DeviceId) -> Result<TxHandle> {
        let msg = RegistryExecute::Revoke {
            device: device.to_string(),
        };
        self.execute(&self.inner.registry, &msg).await
    }

    async fn device(&self, device: &DeviceId) -> Result<RegisteredDevice> {
        let r: DeviceResponse = self
            .registry_query(&RegistryQuery::Device {
                device: device.to_string(),
            })
            .await?;
        let maker =
            match &r.maker {
                Some(m) => Some(m.parse::<DeviceId>().map_err(|e| {
                    Error::permanent(format!("the registry names maker {m:?}: {e}"))
                })?),
                None => None,
            };
        Ok(RegisteredDevice {
            device: *device,
            owner: Account::cosmos(&r.owner)?,
            key_type: KeyType::from_tag(r.key_type)?,
            metadata_hash: parse_root(&r.metadata_hash)?,
            active: r.active,
            trust: DeviceTrust {
                level: TrustLevel::from_tag(r.trust).ok_or_else(|| {
                    Error::permanent(format!("the registry answers trust level {}", r.trust))
                })?,
                maker,
                hardware: None,
            },
        })
    }

    async fn approve_maker(&self, maker: &Maker) -> Result<TxHandle> {
        maker.validate()?;
        let msg = RegistryExecute::ApproveMaker {
            maker: maker.key.to_string(),
            name: maker.name.clone(),
            quota: maker.quota,
        };
        self.execute(&self.inner.registry, &msg).await
    }

    async fn revoke_maker(&self, maker: &DeviceId, on_revoked: OnMakerRevoked) -> Result<TxHandle> {
        let msg = RegistryExecute::RevokeMaker {
            maker: maker.to_string(),
            suspend_devices: on_revoked == OnMakerRevoked::SuspendDevices,
        };
        self.execute(&self.inner.registry, &msg).await
    }

    async fn maker(&self, maker: &DeviceId) -> Result<MakerRecord> {
        let r: MakerResponse = self
            .registry_query(&RegistryQuery::Maker {
                maker: maker.to_string(),
            })
            .await?;
        Ok(MakerRecord {
            maker: Maker::new(*maker, r.name, r.quota),
            onboarded: r.onboarded,
            active: r.active,
            devices_suspended: r.devices_suspended,
        })
    }

    async fn set_onboarding(&self, onboarding: Onboarding) -> Result<TxHandle> {
        let msg = RegistryExecute::SetMakersOnly {
            makers_only: onboarding == Onboarding::MakersOnly,
        };
        self.execute(&self.inner.registry, &msg).await
    }

    async fn onboarding_challenge(
        &self,
        registration: &DeviceRegistration,
        maker: &DeviceId,
    ) -> Result<OnboardingChallenge> {
        let owner = self.cosmos_account(&registration.owner)?;
        let nonce = self.nonce(&registration.device).await?;
        let binding =
            msgs::signing::registry_binding(&self.inner.chain_id, self.inner.registry.as_ref());
        let maker_message = msgs::signing::onboarding_payload(
            &binding,
            &registration.device,
            owner,
            &registration.metadata_hash(),
            nonce,
            registration.deadline,
            maker,
        );
        Ok(OnboardingChallenge {
            maker_digest: self
                .inner
                .domain
                .digest(depin_core::MessageKind::MAKER_ONBOARDING, &maker_message),
            evidence_nonce: Sha256::digest(&maker_message).into(),
            device: Some(RegistrationChallenge::Domain {
                domain: self.inner.domain,
                message: msgs::signing::registration_payload(
                    &registration.device,
                    owner,
                    &registration.metadata_hash(),
                    nonce,
                    registration.deadline,
                ),
            }),
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
                "the CosmWasm registry does not check hardware evidence on chain; check it off chain before the maker attests"
                    .into(),
            ));
        }
        let msg = self.registration_msg(registration)?;
        // the device's own proof is required: the contract checks every key type
        let Some(RegistrationProof::Domain(signature)) = device_proof else {
            return Err(Error::InvalidProof);
        };
        // No check here: the contract's simulation answers, in the contract's order.
        let msg = RegistryExecute::Onboard {
            registration: msg,
            maker: attestation.maker.to_string(),
            maker_signature: hex::encode(attestation.signature.to_bytes()),
            signature: hex::encode(signature.to_bytes()),
        };
        self.execute(&self.inner.registry, &msg).await
    }
}

#[async_trait]
impl crate::backend::DistributorBackend for CosmosBackend {
    fn claim_format(&self) -> ClaimFormat {
        ClaimFormat::Cw20MerkleAirdrop
    }

    async fn publish_root(&self, root: &EpochRoot) -> Result<PublishOutcome> {
        root.check_publishable()?;
        if let Some(existing) = self.epoch_root(root.epoch).await? {
            return root.republish(&existing);
        }
        if let Some(latest) = self.latest_root().await? {
            if root.epoch.0 <= latest.epoch {
                return Err(Error::EpochNotIncreasing {
                    epoch: root.epoch,
                    latest: Epoch(latest.epoch),
                });
            }
        }
        let msg = DistributorExecute::PublishRoot {
            epoch: root.epoch.0,
            merkle_root: hex::encode(root.root),
            total_amount: root.total.to_string(),
        };
        let tx = self.execute(&self.inner.distributor, &msg).await?;
        Ok(PublishOutcome::Published(tx))
    }

    async fn publish_quorum_root(&self, quorum: &crate::quorum::Quorum) -> Result<PublishOutcome> {
        let st = &quorum.statement;
        let root = EpochRoot {
            epoch: st.epoch,
            root: st.root,
            total: st.total,
        };
        root.check_publishable()?;
        if let Some(existing) = self.epoch_root(st.epoch).await? {
            return root.republish(&existing);
        }
        // a statement for another distributor: its signatures cannot verify here
        if st.distributor != self.quorum_distributor() {
            return Err(Error::InvalidProof);
        }
        let msg = DistributorExecute::PublishQuorumRoot {
            epoch: st.epoch.0,
            merkle_root: hex::encode(st.root),
            total_amount: st.total.to_string(),
            signatures: quorum
                .signers
                .iter()
                .zip(&quorum.signatures)
                .map(|(oracle, sig)| OracleSignature {
                    oracle: oracle.to_string(),
                    signature: hex::encode(sig.to_bytes()),
                })
                .collect(),
        };
        let tx = self.execute(&self.inner.distributor, &msg).await?;
        Ok(PublishOutcome::Published(tx))
    }

    async fn epoch_root(&self, epoch: Epoch) -> Result<Option<EpochRoot>> {
        let Some(r) = self.root_of(epoch).await? else {
            return Ok(None);
        };
        Ok(Some(EpochRoot {
            epoch,
            root: parse_root(&r.merkle_root)?,
            total: parse_amount(&r.total_amount, "total_amount")?,
        }))
    }

    async fn claim(&self, claim: &Claim) -> Result<TxHandle> {
        let account = self.cosmos_account(&claim.account)?.to_string();
        let Some(latest) = self.latest_root().await? else {
            return Err(Error::NoRoot);
        };
        let root = parse_root(&latest.merkle_root)?;
        if !crate::claims::verify_claim(ClaimFormat::Cw20MerkleAirdrop, &root, claim)? {
            return Err(Error::InvalidProof);
        }
        let msg = DistributorExecute::Claim {
            account,
            epoch: latest.epoch,
            amount: claim.cumulative_amount.to_string(),
            proof: claim.proof.iter().map(hex::encode).collect(),
        };
        match self.execute(&self.inner.distributor, &msg).await {
            Err(Error::Reverted { reason })
                if ErrorCode::find(&reason) == Some(ErrorCode::AlreadyClaimed) =>
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
        let r: ClaimedResponse = self
            .smart_query(
                &self.inner.distributor,
                &DistributorQuery::Claimed { address },
            )
            .await?;
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

    async fn fund_pool(&self, amount: u128) -> Result<TxHandle> {
        if amount == 0 {
            return Err(Error::InvalidInput("funding with 0 tokens".into()));
        }
        let token = self.token().await?;
        let msg = serde_json::json!({"transfer": {
            "recipient": self.inner.distributor.to_string(),
            "amount": amount.to_string(),
        }});
        self.execute(&token, &msg).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(s: &str) -> String {
        format!("failed to execute message; message index: 0: {s}: execute wasm contract failed")
    }

    #[test]
    fn contract_error_codes_map_to_typed_variants() {
        assert!(matches!(
            map_log(&wrap("[depin:invalid_proof] the proof does not verify")),
            Error::InvalidProof
        ));
        assert!(matches!(
            map_log(&wrap(
                "[depin:invalid_signature] device signature does not verify"
            )),
            Error::InvalidProof
        ));
        assert!(matches!(
            map_log(&wrap("[depin:unauthorized] admin only")),
            Error::Unauthorized(_)
        ));
        assert!(matches!(
            map_log(&wrap(
                "[depin:makers_only] devices join only through a maker"
            )),
            Error::Unauthorized(_)
        ));
        assert!(matches!(
            map_log(&wrap(
                "[depin:insufficient_pool] pool holds 40, the claim pays 100"
            )),
            Error::InsufficientFunds {
                available: 40,
                required: 100
            }
        ));
        assert!(matches!(
            map_log(&wrap(
                "[depin:already_claimed] cumulative 5 already paid (5)"
            )),
            Error::Reverted { .. }
        ));
        assert!(matches!(
            map_log(&wrap("[depin:already_registered] did:key:z6Mk")),
            Error::AlreadyRegistered(_)
        ));
        assert!(matches!(
            map_log(&wrap("[depin:already_revoked] did:key:z6Mk")),
            Error::AlreadyRevoked(_)
        ));
        assert!(matches!(
            map_log(&wrap("[depin:device_not_found] did:key:z6Mk")),
            Error::NotFound(_)
        ));
        assert!(matches!(
            map_log(&wrap(
                "[depin:expired] registration expired: deadline 17 before block time 20"
            )),
            Error::Expired { deadline: 17 }
        ));
        assert!(matches!(
            map_log(&wrap("[depin:deadline_too_far] deadline 99 is too far ahead: the latest deadline accepted now is 50")),
            Error::DeadlineTooFar { deadline: 99, max: 50 }
        ));
        match map_log(&wrap(
            "[depin:quota_exceeded] maker did:key:zDn4 onboarded its quota of 2",
        )) {
            Error::QuotaExceeded { maker, quota } => {
                assert_eq!((maker.as_str(), quota), ("did:key:zDn4", 2))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            map_log(&wrap("[depin:epoch_already_published] epoch 7")),
            Error::EpochAlreadyPublished { epoch: Epoch(7) }
        ));
        assert!(matches!(
            map_log(&wrap(
                "[depin:epoch_not_increasing] epoch 3 is not after the latest, 9"
            )),
            Error::EpochNotIncreasing {
                epoch: Epoch(3),
                latest: Epoch(9)
            }
        ));
        // wording without a code is not trusted: it stays a revert
        assert!(matches!(
            map_log(&wrap("Invalid signature")),
            Error::Reverted { .. }
        ));
        assert!(matches!(map_log("something else"), Error::Reverted { .. }));
        assert!(matches!(
            check_tx_error(
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
            check_tx_error("sdk", CODE_INSUFFICIENT_FEE, "insufficient fee"),
            Error::Config(_)
        ));
        assert!(is_sequence_error(&sim_error(
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
    }

    /// The contract rebuilds the device's and the maker's messages with
    /// `depin_cosmwasm_msgs::signing`; they must be the generic registration messages of
    /// this crate for a Cosmos owner, byte for byte.
    #[test]
    fn the_contracts_signing_payloads_are_this_crates_messages() {
        let key = depin_core::SigningKey::from_secret_bytes(KeyType::P256, &[3; 32]).unwrap();
        let maker = depin_core::SigningKey::from_secret_bytes(KeyType::Ed25519, &[4; 32]).unwrap();
        let device = DeviceId::from(&key.public_key());
        let maker = DeviceId::from(&maker.public_key());
        let owner = "wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq";
        let r = DeviceRegistration {
            device,
            owner: Account::cosmos(owner).unwrap(),
            metadata: b"hotspot v2".to_vec(),
            deadline: 1_900_000_000,
        };
        assert_eq!(
            msgs::signing::registration_payload(&device, owner, &r.metadata_hash(), 5, r.deadline),
            r.signing_message(5)
        );
        let dist = msgs::signing::distributor_binding("juno-1", "juno1contract");
        assert_eq!(
            msgs::signing::root_statement_payload(&dist, 9, &[5; 32], 77),
            crate::quorum::RootStatement::new(dist.to_vec(), Epoch(9), [5; 32], 77)
                .message()
                .unwrap()
        );
        let binding = msgs::signing::registry_binding("juno-1", "juno1contract");
        assert_eq!(
            msgs::signing::onboarding_payload(
                &binding,
                &device,
                owner,
                &r.metadata_hash(),
                5,
                r.deadline,
                &maker
            ),
            r.onboarding_message(BackendKind::Cosmos, &binding, 5, &maker)
        );
    }
}
