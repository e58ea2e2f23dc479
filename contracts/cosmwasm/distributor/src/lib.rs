//! The depin-rs cumulative reward distributor as a CosmWasm contract.
//!
//! Messages: [`depin_cosmwasm_msgs::distributor`]. The oracle publishes one root per epoch
//! (any `u64` epoch above the latest) over every account's cumulative earnings and their
//! total; anyone submits an account's cumulative amount with a proof in the
//! `cw20-merkle-airdrop` leaf format, checked by the same code that builds the trees
//! (`depin_rewards::claims::cw20`), and is paid the difference to what it was paid before,
//! as a cw20 `transfer` from the distributor's own balance. A claim against any root but
//! the latest is refused, except the one before it for
//! [`depin_cosmwasm_msgs::distributor::PREVIOUS_ROOT_GRACE_SECONDS`] after the latest was
//! published; the contract never pays more in all than the latest root's total.

#[path = "../../shared/admin.rs"]
mod admin;
#[path = "../../shared/error.rs"]
mod error;
#[path = "../../shared/input.rs"]
mod input;
#[path = "../../shared/verify.rs"]
mod verify;

pub use error::ContractError;

#[cfg(not(feature = "library"))]
use cosmwasm_std::entry_point;
use cosmwasm_std::{
    to_json_binary, Addr, Binary, Deps, DepsMut, Env, MessageInfo, Response, Uint128, WasmMsg,
};
use cw_storage_plus::{Item, Map};
use depin_core::{DeviceId, Domain, MessageKind, NetworkId};
use depin_cosmwasm_msgs::distributor::{
    ClaimedResponse, ConfigResponse, ExecuteMsg, InstantiateMsg, LatestRootResponse,
    OracleSetResponse, OracleSetsResponse, OracleSignature, QueryMsg, RootResponse, MAX_ORACLES,
    ORACLE_SET_DELAY_SECONDS, PREVIOUS_ROOT_GRACE_SECONDS,
};
use depin_cosmwasm_msgs::error::ErrorCode;
use depin_cosmwasm_msgs::signing;
use serde::{Deserialize, Serialize};

use error::refuse;
use input::{address, device_id, id_bytes};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Config {
    oracle: Addr,
    token: Addr,
    network: String,
}

/// An oracle set: binary ids (`tag || key`), sorted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct OracleSet {
    oracles: Vec<Vec<u8>>,
    threshold: u32,
    effective_at: u64,
}

/// The set in effect (if any) and the one scheduled after it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct OracleSets {
    current: Option<OracleSet>,
    scheduled: Option<OracleSet>,
}

impl OracleSets {
    /// Promote the scheduled set once its time has come.
    fn at(mut self, now: u64) -> Self {
        if self
            .scheduled
            .as_ref()
            .is_some_and(|s| s.effective_at <= now)
        {
            self.current = self.scheduled.take();
        }
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Root {
    root: [u8; 32],
    total: Uint128,
    published_at: u64,
}

/// The latest and the one before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Latest {
    latest: Option<u64>,
    previous: Option<u64>,
}

const CONFIG: Item<Config> = Item::new("config");
const ROOTS: Map<u64, Root> = Map::new("roots");
const LATEST: Item<Latest> = Item::new("latest");
const CLAIMED: Map<&Addr, Uint128> = Map::new("claimed");
const TOTAL_PAID: Item<Uint128> = Item::new("total_paid");
const ORACLE_SETS: Item<OracleSets> = Item::new("oracle_sets");

/// Instantiate with the oracle and the cw20 token.
#[cfg_attr(not(feature = "library"), entry_point)]
pub fn instantiate(
    mut deps: DepsMut,
    _env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    admin::init(deps.branch(), &info, msg.admin.as_deref())?;
    let config = Config {
        oracle: address(deps.as_ref(), &msg.oracle)?,
        token: address(deps.as_ref(), &msg.token)?,
        network: NetworkId::new(&msg.network)
            .map_err(|e| {
                refuse(
                    ErrorCode::InvalidInput,
                    format!("network {:?}: {e}", msg.network),
                )
            })?
            .as_str()
            .to_string(),
    };
    ORACLE_SETS.save(deps.storage, &OracleSets::default())?;
    CONFIG.save(deps.storage, &config)?;
    LATEST.save(deps.storage, &Latest::default())?;
    TOTAL_PAID.save(deps.storage, &Uint128::zero())?;
    Ok(Response::new()
        .add_attribute("action", "instantiate")
        .add_attribute("oracle", config.oracle)
        .add_attribute("token", config.token))
}

/// Execute a [`ExecuteMsg`].
#[cfg_attr(not(feature = "library"), entry_point)]
pub fn execute(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: ExecuteMsg,
) -> Result<Response, ContractError> {
    match msg {
        ExecuteMsg::PublishRoot {
            epoch,
            merkle_root,
            total_amount,
        } => {
            let c = CONFIG.load(deps.storage)?;
            if info.sender != c.oracle {
                return Err(refuse(
                    ErrorCode::Unauthorized,
                    "only the oracle publishes roots",
                ));
            }
            let sets = ORACLE_SETS.load(deps.storage)?.at(env.block.time.seconds());
            if sets.current.is_some() {
                return Err(refuse(
                    ErrorCode::Unauthorized,
                    "an oracle set is in effect: roots need a quorum (publish_quorum_root)",
                ));
            }
            publish(deps, &env, epoch, &merkle_root, &total_amount, "oracle")
        }
        ExecuteMsg::PublishQuorumRoot {
            epoch,
            merkle_root,
            total_amount,
            signatures,
        } => {
            check_quorum(
                deps.as_ref(),
                &env,
                epoch,
                &merkle_root,
                &total_amount,
                &signatures,
            )?;
            publish(deps, &env, epoch, &merkle_root, &total_amount, "quorum")
        }
        ExecuteMsg::ScheduleOracleSet {
            oracles,
            threshold,
            effective_at,
        } => schedule(deps, &env, &info, &oracles, threshold, effective_at),
        ExecuteMsg::Claim {
            account,
            epoch,
            amount,
            proof,
        } => {
            let account = address(deps.as_ref(), &account)?;
            claim(deps, &env, &account, epoch, &amount, &proof)
        }
        ExecuteMsg::SetOracle { oracle } => {
            admin::only(deps.as_ref(), &info)?;
            let mut c = CONFIG.load(deps.storage)?;
            c.oracle = address(deps.as_ref(), &oracle)?;
            CONFIG.save(deps.storage, &c)?;
            Ok(Response::new()
                .add_attribute("action", "set_oracle")
                .add_attribute("oracle", c.oracle))
        }
        ExecuteMsg::ProposeAdmin { admin } => admin::propose(deps, &info, &admin),
        ExecuteMsg::AcceptAdmin {} => admin::accept(deps, &info),
    }
}

/// Answer a [`QueryMsg`].
#[cfg_attr(not(feature = "library"), entry_point)]
pub fn query(deps: Deps, env: Env, msg: QueryMsg) -> Result<Binary, ContractError> {
    Ok(match msg {
        QueryMsg::Root { epoch } => {
            let r = ROOTS
                .may_load(deps.storage, epoch)?
                .ok_or_else(|| refuse(ErrorCode::EpochNotFound, format!("epoch {epoch}")))?;
            to_json_binary(&root_response(epoch, &r))?
        }
        QueryMsg::LatestRoot {} => {
            let root = match LATEST.load(deps.storage)?.latest {
                Some(e) => Some(root_response(e, &ROOTS.load(deps.storage, e)?)),
                None => None,
            };
            to_json_binary(&LatestRootResponse { root })?
        }
        QueryMsg::Claimed { address: a } => {
            let addr = address(deps, &a)?;
            let claimed = CLAIMED.may_load(deps.storage, &addr)?.unwrap_or_default();
            to_json_binary(&ClaimedResponse {
                claimed: claimed.to_string(),
            })?
        }
        QueryMsg::OracleSets {} => {
            let sets = ORACLE_SETS.load(deps.storage)?.at(env.block.time.seconds());
            to_json_binary(&OracleSetsResponse {
                current: sets.current.as_ref().map(set_response).transpose()?,
                scheduled: sets.scheduled.as_ref().map(set_response).transpose()?,
            })?
        }
        QueryMsg::Config {} => {
            let c = CONFIG.load(deps.storage)?;
            let a = admin::load(deps.storage)?;
            to_json_binary(&ConfigResponse {
                admin: a.admin.to_string(),
                pending_admin: a.pending.map(|p| p.to_string()),
                oracle: c.oracle.to_string(),
                token: c.token.to_string(),
                network: c.network,
                total_paid: TOTAL_PAID.load(deps.storage)?.to_string(),
            })?
        }
    })
}

fn root_response(epoch: u64, r: &Root) -> RootResponse {
    RootResponse {
        epoch,
        merkle_root: hex::encode(r.root),
        total_amount: r.total.to_string(),
        published_at: r.published_at,
    }
}

fn publish(
    deps: DepsMut,
    env: &Env,
    epoch: u64,
    merkle_root: &str,
    total_amount: &str,
    by: &str,
) -> Result<Response, ContractError> {
    let root = depin_rewards::claims::cw20::parse_hash(merkle_root)
        .map_err(|e| refuse(ErrorCode::InvalidInput, format!("merkle_root: {e}")))?;
    if root == [0u8; 32] {
        return Err(refuse(ErrorCode::InvalidInput, "a zero root pays nobody"));
    }
    let total = amount(total_amount, "total_amount")?;
    if ROOTS.has(deps.storage, epoch) {
        return Err(refuse(
            ErrorCode::EpochAlreadyPublished,
            format!("epoch {epoch}"),
        ));
    }
    let mut latest = LATEST.load(deps.storage)?;
    if let Some(l) = latest.latest {
        if epoch <= l {
            return Err(refuse(
                ErrorCode::EpochNotIncreasing,
                format!("epoch {epoch} is not after the latest, {l}"),
            ));
        }
    }
    let paid = TOTAL_PAID.load(deps.storage)?;
    if total < paid {
        return Err(refuse(
            ErrorCode::InvalidInput,
            format!("total {total} is below what was already paid, {paid}"),
        ));
    }
    ROOTS.save(
        deps.storage,
        epoch,
        &Root {
            root,
            total,
            published_at: env.block.time.seconds(),
        },
    )?;
    latest.previous = latest.latest;
    latest.latest = Some(epoch);
    LATEST.save(deps.storage, &latest)?;
    Ok(Response::new()
        .add_attribute("action", "publish_root")
        .add_attribute("by", by)
        .add_attribute("epoch", epoch.to_string())
        .add_attribute("merkle_root", hex::encode(root))
        .add_attribute("total_amount", total))
}

fn claim(
    deps: DepsMut,
    env: &Env,
    account: &Addr,
    epoch: u64,
    cumulative: &str,
    proof: &[String],
) -> Result<Response, ContractError> {
    let latest = LATEST.load(deps.storage)?;
    let Some(l) = latest.latest else {
        return Err(refuse(ErrorCode::NoRoot, "nothing was published yet"));
    };
    let newest = ROOTS.load(deps.storage, l)?;
    let root = if epoch == l {
        newest.root
    } else if Some(epoch) == latest.previous
        && env.block.time.seconds()
            < newest
                .published_at
                .saturating_add(PREVIOUS_ROOT_GRACE_SECONDS)
    {
        ROOTS.load(deps.storage, epoch)?.root
    } else {
        return Err(refuse(
            ErrorCode::InvalidProof,
            format!("the root of epoch {epoch} is no longer accepted (latest {l})"),
        ));
    };
    let cumulative = amount(cumulative, "amount")?;
    let ok = depin_rewards::claims::cw20::verify_hex(
        &hex::encode(root),
        account.as_str(),
        cumulative.u128(),
        proof,
    )
    .map_err(|e| refuse(ErrorCode::InvalidInput, format!("proof: {e}")))?;
    if !ok {
        return Err(refuse(
            ErrorCode::InvalidProof,
            format!("the proof does not verify against epoch {epoch}'s root"),
        ));
    }
    let already = CLAIMED.may_load(deps.storage, account)?.unwrap_or_default();
    if cumulative <= already {
        return Err(refuse(
            ErrorCode::AlreadyClaimed,
            format!("cumulative {cumulative} already paid ({already})"),
        ));
    }
    let pay = cumulative - already;
    let paid = TOTAL_PAID.load(deps.storage)? + pay;
    if paid > newest.total {
        return Err(refuse(
            ErrorCode::ExceedsTotal,
            format!(
                "paying {pay} would make {paid}, above the latest total {}",
                newest.total
            ),
        ));
    }
    let token = CONFIG.load(deps.storage)?.token;
    let pool: cw20::BalanceResponse = deps.querier.query_wasm_smart(
        &token,
        &cw20::Cw20QueryMsg::Balance {
            address: env.contract.address.to_string(),
        },
    )?;
    if pool.balance < pay {
        return Err(refuse(
            ErrorCode::InsufficientPool,
            format!("pool holds {}, the claim pays {pay}", pool.balance),
        ));
    }
    CLAIMED.save(deps.storage, account, &cumulative)?;
    TOTAL_PAID.save(deps.storage, &paid)?;
    let transfer = WasmMsg::Execute {
        contract_addr: token.to_string(),
        msg: to_json_binary(&cw20::Cw20ExecuteMsg::Transfer {
            recipient: account.to_string(),
            amount: pay,
        })?,
        funds: vec![],
    };
    Ok(Response::new()
        .add_message(transfer)
        .add_attribute("action", "claim")
        .add_attribute("epoch", epoch.to_string())
        .add_attribute("account", account.as_str())
        .add_attribute("cumulative", cumulative)
        .add_attribute("paid", pay))
}

fn set_response(s: &OracleSet) -> Result<OracleSetResponse, ContractError> {
    Ok(OracleSetResponse {
        oracles: s
            .oracles
            .iter()
            .map(|o| {
                DeviceId::from_bytes(o)
                    .map(|d| d.to_string())
                    .map_err(|e| refuse(ErrorCode::InvalidInput, e.to_string()))
            })
            .collect::<Result<_, _>>()?,
        threshold: s.threshold,
        effective_at: s.effective_at,
    })
}

fn schedule(
    deps: DepsMut,
    env: &Env,
    info: &MessageInfo,
    oracles: &[String],
    threshold: u32,
    effective_at: u64,
) -> Result<Response, ContractError> {
    admin::only(deps.as_ref(), info)?;
    let now = env.block.time.seconds();
    let earliest = now.saturating_add(ORACLE_SET_DELAY_SECONDS);
    if effective_at < earliest {
        return Err(refuse(
            ErrorCode::InvalidInput,
            format!("an oracle set takes effect {ORACLE_SET_DELAY_SECONDS} s after it is scheduled at the earliest: {earliest}"),
        ));
    }
    if oracles.is_empty() || oracles.len() > MAX_ORACLES {
        return Err(refuse(
            ErrorCode::InvalidInput,
            format!("1 to {MAX_ORACLES} oracles"),
        ));
    }
    let mut ids = oracles
        .iter()
        .map(|o| {
            let d = device_id(o)?;
            verify::key_acceptable(&d)
                .map_err(|e| refuse(ErrorCode::InvalidInput, format!("oracle {o}: {e}")))?;
            Ok(id_bytes(&d))
        })
        .collect::<Result<Vec<_>, ContractError>>()?;
    ids.sort();
    ids.dedup();
    if ids.len() != oracles.len() {
        return Err(refuse(ErrorCode::InvalidInput, "an oracle is listed twice"));
    }
    let n = ids.len() as u64;
    if threshold == 0 || u64::from(threshold) > n || 2 * u64::from(threshold) <= n {
        return Err(refuse(
            ErrorCode::InvalidInput,
            format!("threshold {threshold} of {n} is not a strict majority"),
        ));
    }
    let mut sets = ORACLE_SETS.load(deps.storage)?.at(now);
    sets.scheduled = Some(OracleSet {
        oracles: ids,
        threshold,
        effective_at,
    });
    ORACLE_SETS.save(deps.storage, &sets)?;
    Ok(Response::new()
        .add_attribute("action", "schedule_oracle_set")
        .add_attribute("oracles", n.to_string())
        .add_attribute("threshold", threshold.to_string())
        .add_attribute("effective_at", effective_at.to_string()))
}

/// A threshold of the set in effect signed this statement for this distributor.
fn check_quorum(
    deps: Deps,
    env: &Env,
    epoch: u64,
    merkle_root: &str,
    total_amount: &str,
    signatures: &[OracleSignature],
) -> Result<(), ContractError> {
    let sets = ORACLE_SETS.load(deps.storage)?.at(env.block.time.seconds());
    let Some(set) = sets.current else {
        return Err(refuse(
            ErrorCode::Unauthorized,
            "no oracle set is in effect",
        ));
    };
    let network = CONFIG.load(deps.storage)?.network;
    let domain = Domain::new(
        NetworkId::new(&network).map_err(|e| refuse(ErrorCode::InvalidInput, e.to_string()))?,
    );
    let root = depin_rewards::claims::cw20::parse_hash(merkle_root)
        .map_err(|e| refuse(ErrorCode::InvalidInput, format!("merkle_root: {e}")))?;
    let total = amount(total_amount, "total_amount")?;
    let binding = signing::distributor_binding(&env.block.chain_id, env.contract.address.as_str());
    let digest = domain.digest(
        MessageKind::REWARD_ROOT,
        &signing::root_statement_payload(&binding, epoch, &root, total.u128()),
    );
    let mut counted: Vec<Vec<u8>> = Vec::new();
    for s in signatures {
        let oracle = device_id(&s.oracle)?;
        let key = id_bytes(&oracle);
        if counted.contains(&key) {
            continue;
        }
        if set.oracles.binary_search(&key).is_err() {
            return Err(refuse(
                ErrorCode::Unauthorized,
                format!("{} is not in the oracle set", s.oracle),
            ));
        }
        verify::check(deps.api, &oracle, &digest, &s.signature)
            .map_err(|e| refuse(ErrorCode::InvalidProof, format!("oracle {}: {e}", s.oracle)))?;
        counted.push(key);
    }
    if (counted.len() as u64) < u64::from(set.threshold) {
        return Err(refuse(
            ErrorCode::Unauthorized,
            format!(
                "{} distinct oracle signatures, the set needs {}",
                counted.len(),
                set.threshold
            ),
        ));
    }
    Ok(())
}

fn amount(s: &str, what: &str) -> Result<Uint128, ContractError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(refuse(
            ErrorCode::InvalidInput,
            format!("{what} must be a canonical decimal"),
        ));
    }
    s.parse::<u128>().map(Uint128::new).map_err(|_| {
        refuse(
            ErrorCode::InvalidInput,
            format!("{what} does not fit 128 bits"),
        )
    })
}
