//! Signatures checked the way depin-core checks them: strict encoding first
//! (`depin_core::Signature::from_bytes`: Ed25519 `S < l` and an acceptable `R`, ECDSA low S),
//! then the CosmWasm host function of the key's curve over the 32-byte domain digest. (One
//! file, included by both contracts with `#[path]`.)
//!
//! The host's `ed25519_verify` follows ZIP-215, which accepts keys of small order: under the
//! identity key, `R = B, S = 1` "verifies" for every message. depin-core refuses such keys;
//! so does [`check`], by the same byte test it applies to `R` (a canonical encoding outside
//! the eight small-order points).

use cosmwasm_std::Api;
use depin_core::{DeviceId, KeyType, Signature};

/// Refuse an Ed25519 key of small order or in a non-canonical encoding (see the module
/// docs); other keys pass (the host functions refuse points off their curve).
pub fn key_acceptable(key: &DeviceId) -> Result<(), String> {
    if key.key_type() == KeyType::Ed25519 {
        let acceptable = <&[u8; 32]>::try_from(key.key_bytes())
            .is_ok_and(depin_core::keys::ed25519_r_is_acceptable);
        if !acceptable {
            return Err("Ed25519 key is of small order or not canonical".into());
        }
    }
    Ok(())
}

/// Check `signature` (hex) by `signer` over `digest`; the reason when it fails.
pub fn check(
    api: &dyn Api,
    signer: &DeviceId,
    digest: &[u8; 32],
    signature: &str,
) -> Result<(), String> {
    let bytes = hex::decode(signature).map_err(|_| "signature is not hex".to_string())?;
    let sig = Signature::from_bytes(signer.key_type(), &bytes)
        .map_err(|e| format!("signature is not strictly encoded: {e}"))?;
    let raw = sig.to_bytes();
    let key = signer.key_bytes();
    key_acceptable(signer)?;
    let ok = match signer.key_type() {
        KeyType::Ed25519 => api.ed25519_verify(digest, &raw, key),
        KeyType::Secp256k1 => api.secp256k1_verify(digest, &raw, key),
        KeyType::P256 => api.secp256r1_verify(digest, &raw, key),
    };
    match ok {
        Ok(true) => Ok(()),
        Ok(false) => Err("signature does not verify".into()),
        Err(e) => Err(format!("signature: {e}")),
    }
}
