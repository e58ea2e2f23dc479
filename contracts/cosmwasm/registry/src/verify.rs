//! Signatures checked the way depin-core checks them: strict encoding first
//! (`depin_core::Signature::from_bytes`: Ed25519 `S < l` and an acceptable `R`, ECDSA low S),
//! then the CosmWasm host function of the key's curve over the 32-byte domain digest.

use cosmwasm_std::Api;
use depin_core::{DeviceId, KeyType, Signature};
use depin_cosmwasm_msgs::error::ErrorCode;

use crate::error::{refuse, ContractError};

/// Check `signature` (hex) by `signer` over `digest`.
pub fn check(
    api: &dyn Api,
    signer: &DeviceId,
    digest: &[u8; 32],
    signature: &str,
    who: &str,
) -> Result<(), ContractError> {
    let bytes = hex::decode(signature).map_err(|_| {
        refuse(
            ErrorCode::InvalidSignature,
            format!("{who} signature is not hex"),
        )
    })?;
    let sig = Signature::from_bytes(signer.key_type(), &bytes).map_err(|e| {
        refuse(
            ErrorCode::InvalidSignature,
            format!("{who} signature is not strictly encoded: {e}"),
        )
    })?;
    let raw = sig.to_bytes();
    let key = signer.key_bytes();
    let ok = match signer.key_type() {
        KeyType::Ed25519 => api.ed25519_verify(digest, &raw, key),
        KeyType::Secp256k1 => api.secp256k1_verify(digest, &raw, key),
        KeyType::P256 => api.secp256r1_verify(digest, &raw, key),
    };
    match ok {
        Ok(true) => Ok(()),
        Ok(false) => Err(refuse(
            ErrorCode::InvalidSignature,
            format!("{who} signature does not verify"),
        )),
        Err(e) => Err(refuse(
            ErrorCode::InvalidSignature,
            format!("{who} signature: {e}"),
        )),
    }
}
