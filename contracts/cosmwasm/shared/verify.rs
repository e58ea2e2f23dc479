//! Signatures checked the way depin-core checks them: strict encoding first
//! (`depin_core::Signature::from_bytes`: Ed25519 `S < l` and an acceptable `R`, ECDSA low S),
//! then the CosmWasm host function of the key's curve over the 32-byte domain digest. (One
//! file, included by both contracts with `#[path]`.)

use cosmwasm_std::Api;
use depin_core::{DeviceId, KeyType, Signature};

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
