//! Message fields both contracts read: accounts and did:keys. (One file, included by both
//! with `#[path]`.)

use cosmwasm_std::{Addr, Deps};
use depin_core::DeviceId;
use depin_cosmwasm_msgs::error::ErrorCode;

use crate::error::{refuse, ContractError};

/// A bech32 account of this chain, validated (and in its canonical form).
pub fn address(deps: Deps, a: &str) -> Result<Addr, ContractError> {
    deps.api
        .addr_validate(a)
        .map_err(|e| refuse(ErrorCode::InvalidInput, format!("address {a}: {e}")))
}

/// A `did:key` (Ed25519, secp256k1 or P-256).
pub fn device_id(did: &str) -> Result<DeviceId, ContractError> {
    DeviceId::from_did(did).map_err(|e| refuse(ErrorCode::InvalidInput, format!("{did}: {e}")))
}

/// The binary form of an id (`tag || key`), the storage key.
pub fn id_bytes(id: &DeviceId) -> Vec<u8> {
    let (b, n) = id.to_bytes();
    b.get(..n).unwrap_or(&[]).to_vec()
}
