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

mod error;

pub use error::ContractError;

#[cfg(not(feature = "library"))]
use cosmwasm_std::entry_point;
use cosmwasm_std::{
    to_json_binary, Addr, Binary, Deps, DepsMut, Env, MessageInfo, Response, Uint128, WasmMsg,
};
use cw_storage_plus::{Item, Map};
use depin_cosmwasm_msgs::distributor::{
    ClaimedResponse, ConfigResponse, ExecuteMsg, InstantiateMsg, LatestRootResponse, QueryMsg,
    RootResponse, PREVIOUS_ROOT_GRACE_SECONDS,
};
use depin_cosmwasm_msgs::error::ErrorCode;
use serde::{Deserialize, Serialize};

use error::refuse;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Config {
    admin: Addr,
    pending_admin: Option<Addr>,
    oracle: Addr,
    token: Addr,
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

/// Instantiate with the oracle and the cw20 token.
#[cfg_attr(not(feature = "library"), entry_point)]
pub fn instantiate(
    deps: DepsMut,
    _env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    let admin = match msg.admin {
        Some(a) => address(deps.as_ref(), &a)?,
        None => info.sender,
    };
    let config = Config {
        admin,
        pending_admin: None,
        oracle: address(deps.as_ref(), &msg.oracle)?,
        token: address(deps.as_ref(), &msg.token)?,
    };
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
        } => publish(deps, &env, &info, epoch, &merkle_root, &total_amount),
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
            let mut c = admin_only(deps.as_ref(), &info)?;
            c.oracle = address(deps.as_ref(), &oracle)?;
            CONFIG.save(deps.storage, &c)?;
            Ok(Response::new()
                .add_attribute("action", "set_oracle")
                .add_attribute("oracle", c.oracle))
        }
        ExecuteMsg::ProposeAdmin { admin } => {
            let mut c = admin_only(deps.as_ref(), &info)?;
            let proposed = address(deps.as_ref(), &admin)?;
            c.pending_admin = Some(proposed.clone());
            CONFIG.save(deps.storage, &c)?;
            Ok(Response::new()
                .add_attribute("action", "propose_admin")
                .add_attribute("proposed", proposed))
        }
        ExecuteMsg::AcceptAdmin {} => {
            let mut c = CONFIG.load(deps.storage)?;
            if c.pending_admin.as_ref() != Some(&info.sender) {
                return Err(refuse(
                    ErrorCode::NoPendingAdmin,
                    "the sender is not the proposed admin",
                ));
            }
            c.admin = info.sender.clone();
            c.pending_admin = None;
            CONFIG.save(deps.storage, &c)?;
            Ok(Response::new()
                .add_attribute("action", "accept_admin")
                .add_attribute("admin", info.sender))
        }
    }
}

/// Answer a [`QueryMsg`].
#[cfg_attr(not(feature = "library"), entry_point)]
pub fn query(deps: Deps, _env: Env, msg: QueryMsg) -> Result<Binary, ContractError> {
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
        QueryMsg::Config {} => {
            let c = CONFIG.load(deps.storage)?;
            to_json_binary(&ConfigResponse {
                admin: c.admin.to_string(),
                pending_admin: c.pending_admin.map(|a| a.to_string()),
                oracle: c.oracle.to_string(),
                token: c.token.to_string(),
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
    info: &MessageInfo,
    epoch: u64,
    merkle_root: &str,
    total_amount: &str,
) -> Result<Response, ContractError> {
    let c = CONFIG.load(deps.storage)?;
    if info.sender != c.oracle {
        return Err(refuse(
            ErrorCode::Unauthorized,
            "only the oracle publishes roots",
        ));
    }
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

fn admin_only(deps: Deps, info: &MessageInfo) -> Result<Config, ContractError> {
    let c = CONFIG.load(deps.storage)?;
    if info.sender != c.admin {
        return Err(refuse(ErrorCode::Unauthorized, "admin only"));
    }
    Ok(c)
}

fn address(deps: Deps, a: &str) -> Result<Addr, ContractError> {
    deps.api
        .addr_validate(a)
        .map_err(|e| refuse(ErrorCode::InvalidInput, format!("address {a}: {e}")))
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
