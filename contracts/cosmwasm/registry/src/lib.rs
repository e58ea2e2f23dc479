//! The depin-rs device registry as a CosmWasm contract.
//!
//! Messages: [`depin_cosmwasm_msgs::registry`]. A device registers with its own signature,
//! which the contract checks with the host function of the device's curve (`ed25519_verify`,
//! `secp256k1_verify`, `secp256r1_verify`) over the depin-core domain digest bound to this
//! chain id and contract address ([`depin_cosmwasm_msgs::signing`]) and to the device's
//! nonce, which every registration consumes. Makers approved by the admin onboard devices
//! with their own signature besides the device's, within a quota; a revoked maker onboards
//! nothing more and, if the admin says so, its devices read as inactive. The admin changes
//! hands in two steps (propose, accept).

#[path = "../../shared/admin.rs"]
mod admin;
#[path = "../../shared/error.rs"]
mod error;
#[path = "../../shared/input.rs"]
mod input;
mod state;
#[path = "../../shared/verify.rs"]
mod verify;

pub use error::ContractError;

#[cfg(not(feature = "library"))]
use cosmwasm_std::entry_point;
use cosmwasm_std::{to_json_binary, Binary, Deps, DepsMut, Env, MessageInfo, Response};
use depin_core::{DeviceId, TrustLevel};
use depin_cosmwasm_msgs::error::ErrorCode;
use depin_cosmwasm_msgs::registry::{
    ConfigResponse, DeviceResponse, ExecuteMsg, InstantiateMsg, MakerResponse, NonceResponse,
    QueryMsg, Registration, MAX_MAKER_NAME_LEN,
};
use depin_cosmwasm_msgs::signing;

use error::refuse;
use input::{address, device_id, id_bytes};
use state::{Config, Device, Maker, CONFIG, DEVICES, MAKERS, NONCES};

/// Longest a registration signature may stay valid: the EVM registry's 30 days.
pub const MAX_DEADLINE_AHEAD: u64 = 30 * 24 * 3600;

/// Instantiate: the admin (the sender when absent) and whether only makers onboard.
#[cfg_attr(not(feature = "library"), entry_point)]
pub fn instantiate(
    mut deps: DepsMut,
    _env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    let admin = admin::init(deps.branch(), &info, msg.admin.as_deref())?;
    CONFIG.save(
        deps.storage,
        &Config {
            makers_only: msg.makers_only,
        },
    )?;
    Ok(Response::new()
        .add_attribute("action", "instantiate")
        .add_attribute("admin", admin))
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
        ExecuteMsg::Register {
            registration,
            signature,
        } => register(deps, &env, &registration, &signature, None),
        ExecuteMsg::Onboard {
            registration,
            maker,
            maker_signature,
            signature,
        } => register(
            deps,
            &env,
            &registration,
            &signature,
            Some((&maker, &maker_signature)),
        ),
        ExecuteMsg::Revoke { device } => revoke(deps, &info, &device),
        ExecuteMsg::ApproveMaker { maker, name, quota } => {
            approve_maker(deps, &info, &maker, name, quota)
        }
        ExecuteMsg::RevokeMaker {
            maker,
            suspend_devices,
        } => revoke_maker(deps, &info, &maker, suspend_devices),
        ExecuteMsg::SetMakersOnly { makers_only } => {
            admin::only(deps.as_ref(), &info)?;
            let mut c = CONFIG.load(deps.storage)?;
            c.makers_only = makers_only;
            CONFIG.save(deps.storage, &c)?;
            Ok(Response::new()
                .add_attribute("action", "set_makers_only")
                .add_attribute("makers_only", makers_only.to_string()))
        }
        ExecuteMsg::ProposeAdmin { admin } => admin::propose(deps, &info, &admin),
        ExecuteMsg::AcceptAdmin {} => admin::accept(deps, &info),
    }
}

/// Answer a [`QueryMsg`].
#[cfg_attr(not(feature = "library"), entry_point)]
pub fn query(deps: Deps, _env: Env, msg: QueryMsg) -> Result<Binary, ContractError> {
    Ok(match msg {
        QueryMsg::Device { device } => {
            let id = device_id(&device)?;
            let d = DEVICES
                .may_load(deps.storage, &id_bytes(&id))?
                .ok_or_else(|| refuse(ErrorCode::DeviceNotFound, device.clone()))?;
            let maker = match &d.maker {
                Some(m) => Some((
                    DeviceId::from_bytes(m)
                        .map_err(|e| refuse(ErrorCode::InvalidInput, e.to_string()))?,
                    MAKERS.may_load(deps.storage, m)?,
                )),
                None => None,
            };
            let suspended = maker
                .as_ref()
                .and_then(|(_, m)| m.as_ref())
                .is_some_and(|m| m.revoked && m.devices_suspended);
            to_json_binary(&DeviceResponse {
                device: id.to_string(),
                owner: d.owner.to_string(),
                key_type: id.key_type().tag(),
                metadata_hash: hex::encode(d.metadata_hash),
                active: !d.revoked && !suspended,
                maker: maker.map(|(m, _)| m.to_string()),
                trust: d.trust,
            })?
        }
        QueryMsg::Nonce { device } => {
            let id = device_id(&device)?;
            let nonce = NONCES.may_load(deps.storage, &id_bytes(&id))?.unwrap_or(0);
            to_json_binary(&NonceResponse { nonce })?
        }
        QueryMsg::Maker { maker } => {
            let id = device_id(&maker)?;
            let m = MAKERS
                .may_load(deps.storage, &id_bytes(&id))?
                .ok_or_else(|| refuse(ErrorCode::MakerNotFound, maker.clone()))?;
            to_json_binary(&MakerResponse {
                maker: id.to_string(),
                name: m.name,
                quota: m.quota,
                onboarded: m.onboarded,
                active: !m.revoked,
                devices_suspended: m.devices_suspended,
            })?
        }
        QueryMsg::Config {} => {
            let c = CONFIG.load(deps.storage)?;
            let a = admin::load(deps.storage)?;
            to_json_binary(&ConfigResponse {
                admin: a.admin.to_string(),
                pending_admin: a.pending.map(|p| p.to_string()),
                makers_only: c.makers_only,
            })?
        }
    })
}

fn register(
    deps: DepsMut,
    env: &Env,
    r: &Registration,
    signature: &str,
    maker: Option<(&str, &str)>,
) -> Result<Response, ContractError> {
    let config = CONFIG.load(deps.storage)?;
    let device = device_id(&r.device)?;
    let key = id_bytes(&device);
    let owner = address(deps.as_ref(), &r.owner)?;
    let metadata_hash = hash32(&r.metadata_hash, "metadata_hash")?;
    let now = env.block.time.seconds();
    if r.deadline < now {
        return Err(refuse(
            ErrorCode::Expired,
            format!(
                "registration expired: deadline {} before block time {now}",
                r.deadline
            ),
        ));
    }
    let max = now.saturating_add(MAX_DEADLINE_AHEAD);
    if r.deadline > max {
        return Err(refuse(
            ErrorCode::DeadlineTooFar,
            format!(
                "deadline {} is too far ahead: the latest deadline accepted now is {max}",
                r.deadline
            ),
        ));
    }
    if DEVICES.has(deps.storage, &key) {
        return Err(refuse(ErrorCode::AlreadyRegistered, r.device.clone()));
    }
    let contract = env.contract.address.as_str();
    let binding = signing::registry_binding(&env.block.chain_id, contract);
    let domain = signing::registration_domain(&env.block.chain_id, contract)
        .map_err(|e| refuse(ErrorCode::InvalidInput, e.to_string()))?;
    let nonce = NONCES.may_load(deps.storage, &key)?.unwrap_or(0);
    let (maker_key, trust) = match maker {
        None => {
            if config.makers_only {
                return Err(refuse(
                    ErrorCode::MakersOnly,
                    "devices join this network only through a maker",
                ));
            }
            (None, TrustLevel::Untrusted)
        }
        Some((maker, maker_signature)) => {
            let maker_id = device_id(maker)?;
            let mkey = id_bytes(&maker_id);
            let mut m = MAKERS
                .may_load(deps.storage, &mkey)?
                .ok_or_else(|| refuse(ErrorCode::MakerNotFound, maker.to_string()))?;
            if m.revoked {
                return Err(refuse(
                    ErrorCode::Unauthorized,
                    format!("maker {maker} is revoked"),
                ));
            }
            if m.onboarded >= m.quota {
                return Err(refuse(
                    ErrorCode::QuotaExceeded,
                    format!("maker {maker} onboarded its quota of {}", m.quota),
                ));
            }
            let digest = signing::onboarding_digest(
                &domain,
                &binding,
                &device,
                owner.as_str(),
                &metadata_hash,
                nonce,
                r.deadline,
                &maker_id,
            );
            verify::check(deps.api, &maker_id, &digest, maker_signature)
                .map_err(|e| refuse(ErrorCode::InvalidSignature, format!("maker {e}")))?;
            m.onboarded += 1;
            MAKERS.save(deps.storage, &mkey, &m)?;
            (Some(mkey), TrustLevel::Maker)
        }
    };
    let digest = signing::registration_digest(
        &domain,
        &device,
        owner.as_str(),
        &metadata_hash,
        nonce,
        r.deadline,
    );
    verify::check(deps.api, &device, &digest, signature)
        .map_err(|e| refuse(ErrorCode::InvalidSignature, format!("device {e}")))?;
    NONCES.save(deps.storage, &key, &(nonce + 1))?;
    DEVICES.save(
        deps.storage,
        &key,
        &Device {
            owner: owner.clone(),
            metadata_hash,
            revoked: false,
            maker: maker_key,
            trust: trust.tag(),
        },
    )?;
    Ok(Response::new()
        .add_attribute(
            "action",
            if maker.is_some() {
                "onboard"
            } else {
                "register"
            },
        )
        .add_attribute("device", device.to_string())
        .add_attribute("owner", owner)
        .add_attribute("trust", trust.as_str()))
}

fn revoke(deps: DepsMut, info: &MessageInfo, device: &str) -> Result<Response, ContractError> {
    let admin = admin::load(deps.storage)?.admin;
    let id = device_id(device)?;
    let key = id_bytes(&id);
    let mut d = DEVICES
        .may_load(deps.storage, &key)?
        .ok_or_else(|| refuse(ErrorCode::DeviceNotFound, device.to_string()))?;
    if info.sender != d.owner && info.sender != admin {
        return Err(refuse(
            ErrorCode::Unauthorized,
            "only the device's owner or the admin revokes it",
        ));
    }
    if d.revoked {
        return Err(refuse(ErrorCode::AlreadyRevoked, device.to_string()));
    }
    d.revoked = true;
    DEVICES.save(deps.storage, &key, &d)?;
    Ok(Response::new()
        .add_attribute("action", "revoke")
        .add_attribute("device", id.to_string()))
}

fn approve_maker(
    deps: DepsMut,
    info: &MessageInfo,
    maker: &str,
    name: String,
    quota: u64,
) -> Result<Response, ContractError> {
    admin::only(deps.as_ref(), info)?;
    if name.is_empty() || name.len() > MAX_MAKER_NAME_LEN || name.chars().any(char::is_control) {
        return Err(refuse(
            ErrorCode::InvalidInput,
            format!(
                "maker name must be 1 to {MAX_MAKER_NAME_LEN} bytes without control characters"
            ),
        ));
    }
    let id = device_id(maker)?;
    verify::key_acceptable(&id)
        .map_err(|e| refuse(ErrorCode::InvalidInput, format!("maker {maker}: {e}")))?;
    let key = id_bytes(&id);
    if MAKERS.has(deps.storage, &key) {
        return Err(refuse(
            ErrorCode::AlreadyRegistered,
            format!("maker {maker}"),
        ));
    }
    MAKERS.save(
        deps.storage,
        &key,
        &Maker {
            name,
            quota,
            onboarded: 0,
            revoked: false,
            devices_suspended: false,
        },
    )?;
    Ok(Response::new()
        .add_attribute("action", "approve_maker")
        .add_attribute("maker", id.to_string()))
}

fn revoke_maker(
    deps: DepsMut,
    info: &MessageInfo,
    maker: &str,
    suspend_devices: bool,
) -> Result<Response, ContractError> {
    admin::only(deps.as_ref(), info)?;
    let id = device_id(maker)?;
    let key = id_bytes(&id);
    let mut m = MAKERS
        .may_load(deps.storage, &key)?
        .ok_or_else(|| refuse(ErrorCode::MakerNotFound, maker.to_string()))?;
    if m.revoked {
        return Err(refuse(ErrorCode::AlreadyRevoked, format!("maker {maker}")));
    }
    m.revoked = true;
    m.devices_suspended = suspend_devices;
    MAKERS.save(deps.storage, &key, &m)?;
    Ok(Response::new()
        .add_attribute("action", "revoke_maker")
        .add_attribute("maker", id.to_string())
        .add_attribute("devices_suspended", suspend_devices.to_string()))
}

fn hash32(s: &str, what: &str) -> Result<[u8; 32], ContractError> {
    let mut out = [0u8; 32];
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(refuse(
            ErrorCode::InvalidInput,
            format!("{what} must be 64 lowercase hex digits"),
        ));
    }
    hex::decode_to_slice(s, &mut out).map_err(|_| {
        refuse(
            ErrorCode::InvalidInput,
            format!("{what} must be 64 lowercase hex digits"),
        )
    })?;
    Ok(out)
}
