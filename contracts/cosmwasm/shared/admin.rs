//! The admin of a contract and its two-step handover (propose, then accept by the proposed
//! account), the same in both contracts. (One file, included by both with `#[path]`.)

use cosmwasm_std::{Addr, Deps, DepsMut, MessageInfo, Response, StdResult, Storage};
use cw_storage_plus::Item;
use depin_cosmwasm_msgs::error::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::error::{refuse, ContractError};
use crate::input::address;

/// The admin and the account proposed to take over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admin {
    /// The admin now.
    pub admin: Addr,
    /// Proposed, not yet accepted.
    pub pending: Option<Addr>,
}

const ADMIN: Item<Admin> = Item::new("admin");

/// Store the first admin: `admin` from the instantiation message, or the instantiating
/// account when it names none.
pub fn init(deps: DepsMut, info: &MessageInfo, admin: Option<&str>) -> Result<Addr, ContractError> {
    let admin = match admin {
        Some(a) => address(deps.as_ref(), a)?,
        None => info.sender.clone(),
    };
    ADMIN.save(
        deps.storage,
        &Admin {
            admin: admin.clone(),
            pending: None,
        },
    )?;
    Ok(admin)
}

/// The admin and any pending proposal.
pub fn load(storage: &dyn Storage) -> StdResult<Admin> {
    ADMIN.load(storage)
}

/// Refuse anyone but the admin.
pub fn only(deps: Deps, info: &MessageInfo) -> Result<(), ContractError> {
    if info.sender != ADMIN.load(deps.storage)?.admin {
        return Err(refuse(ErrorCode::Unauthorized, "admin only"));
    }
    Ok(())
}

/// First step (admin only): propose `proposed`; replaces any pending proposal.
pub fn propose(
    deps: DepsMut,
    info: &MessageInfo,
    proposed: &str,
) -> Result<Response, ContractError> {
    only(deps.as_ref(), info)?;
    let proposed = address(deps.as_ref(), proposed)?;
    let mut a = ADMIN.load(deps.storage)?;
    a.pending = Some(proposed.clone());
    ADMIN.save(deps.storage, &a)?;
    Ok(Response::new()
        .add_attribute("action", "propose_admin")
        .add_attribute("proposed", proposed))
}

/// Second step: the proposed account takes over.
pub fn accept(deps: DepsMut, info: &MessageInfo) -> Result<Response, ContractError> {
    let mut a = ADMIN.load(deps.storage)?;
    if a.pending.as_ref() != Some(&info.sender) {
        return Err(refuse(
            ErrorCode::NoPendingAdmin,
            "the sender is not the proposed admin",
        ));
    }
    a.admin = info.sender.clone();
    a.pending = None;
    ADMIN.save(deps.storage, &a)?;
    Ok(Response::new()
        .add_attribute("action", "accept_admin")
        .add_attribute("admin", info.sender.as_str()))
}
