//! What devices and makers sign for the CosmWasm registry, byte for byte.
//!
//! A registry contract is bound to its chain and address by
//! [`registry_binding`] `= SHA-256("depin-rs/cosmwasm-registry" || 0x00 || chain_id || 0x00
//! || contract)`. Its signing [`Domain`] is the depin-core domain whose network id is
//! `"cw"` followed by the first 15 bytes of the binding in hex ([`registration_domain`]), so
//! a signature made for one chain or deployment verifies on no other.
//!
//! - A device signs the domain digest, kind [`MessageKind::DEVICE_REGISTRATION`], of
//!   [`registration_payload`] (the version-1 registration message of `depin-chains`).
//! - A maker signs the domain digest, kind [`MessageKind::MAKER_ONBOARDING`], of
//!   [`onboarding_payload`] (the version-4 onboarding message of `depin-chains`, with
//!   backend kind `0x03` Cosmos and the binding as ledger id).
//!
//! As everywhere in depin-rs, Ed25519 signs the 32-byte digest as its message and ECDSA
//! (secp256k1, P-256) signs it as the prehash; the contract checks them with CosmWasm's
//! `ed25519_verify`, `secp256k1_verify` and `secp256r1_verify` over that digest.

use alloc::vec::Vec;
use depin_core::{DeviceId, Domain, MessageKind, NetworkId};
use sha2::{Digest, Sha256};

/// The backend kind byte of Cosmos in `depin-chains`' ledger-bound messages.
pub const COSMOS_BACKEND_KIND: u8 = 0x03;
/// First byte of [`registration_payload`].
pub const REGISTRATION_VERSION: u8 = 1;
/// First byte of [`onboarding_payload`].
pub const ONBOARDING_VERSION: u8 = 4;

/// `SHA-256("depin-rs/cosmwasm-registry" || 0x00 || chain_id || 0x00 || contract)`.
pub fn registry_binding(chain_id: &str, contract: &str) -> [u8; 32] {
    binding(b"depin-rs/cosmwasm-registry", chain_id, contract)
}

/// `SHA-256(tag || 0x00 || chain_id || 0x00 || contract)`.
fn binding(tag: &[u8], chain_id: &str, contract: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    h.update([0]);
    h.update(chain_id.as_bytes());
    h.update([0]);
    h.update(contract.as_bytes());
    h.finalize().into()
}

/// The registry's signing domain (see the module docs). Never fails in practice (the id is
/// `"cw"` and lowercase hex); the `Result` keeps the function free of panics.
pub fn registration_domain(chain_id: &str, contract: &str) -> depin_core::Result<Domain> {
    let binding = registry_binding(chain_id, contract);
    let mut id = [0u8; 32];
    id[..2].copy_from_slice(b"cw");
    // 15 bytes are 30 hex digits: "cw" + 30 = 32 bytes, the longest network id
    let _ = hex::encode_to_slice(&binding[..15], &mut id[2..]);
    let id =
        core::str::from_utf8(&id).map_err(|_| depin_core::Error::InvalidNetworkId("not UTF-8"))?;
    Ok(Domain::new(NetworkId::new(id)?))
}

fn push_owner(out: &mut Vec<u8>, owner: &str) {
    // depin-chains `Account::Cosmos` encoding: 0x01 || len || bech32 bytes
    out.push(1);
    out.push(u8::try_from(owner.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(owner.as_bytes());
}

fn push_device(out: &mut Vec<u8>, device: &DeviceId) {
    let (bytes, len) = device.to_bytes();
    out.push(u8::try_from(len).unwrap_or(u8::MAX));
    out.extend_from_slice(bytes.get(..len).unwrap_or(&[]));
}

/// The distributor a root statement names:
/// `SHA-256("depin-rs/cosmwasm-distributor" || 0x00 || chain_id || 0x00 || contract)`, so a
/// quorum's signatures are bound to one chain and one deployment (a bech32 address alone
/// can repeat across chains).
pub fn distributor_binding(chain_id: &str, contract: &str) -> [u8; 32] {
    binding(b"depin-rs/cosmwasm-distributor", chain_id, contract)
}

/// What an oracle signs for an epoch's root (`depin_chains::quorum::RootStatement::message`),
/// under `MessageKind::REWARD_ROOT` in the network's domain (no chain id: the distributor
/// binding carries the chain):
///
/// ```text
/// "depin-rs/reward-root/1" || len(distributor) || distributor || epoch (u64 BE)
///     || root (32) || total (u128 BE)
/// ```
pub fn root_statement_payload(
    distributor: &[u8; 32],
    epoch: u64,
    root: &[u8; 32],
    total: u128,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(22 + 1 + 32 + 56);
    out.extend_from_slice(b"depin-rs/reward-root/1");
    out.push(32);
    out.extend_from_slice(distributor);
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(root);
    out.extend_from_slice(&total.to_be_bytes());
    out
}

/// What a device signs to register (`depin-chains` `DeviceRegistration::signing_message`):
///
/// ```text
/// 0x01 || len(device) || device (tag || key) || 0x01 || len(owner) || owner
///      || metadata_hash (32) || nonce (u64 BE) || deadline (u64 BE)
/// ```
pub fn registration_payload(
    device: &DeviceId,
    owner: &str,
    metadata_hash: &[u8; 32],
    nonce: u64,
    deadline: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 34 + 2 + owner.len() + 48);
    out.push(REGISTRATION_VERSION);
    push_device(&mut out, device);
    push_owner(&mut out, owner);
    out.extend_from_slice(metadata_hash);
    out.extend_from_slice(&nonce.to_be_bytes());
    out.extend_from_slice(&deadline.to_be_bytes());
    out
}

/// What a maker signs to onboard a device (`depin-chains`
/// `DeviceRegistration::onboarding_message` for backend kind Cosmos):
///
/// ```text
/// 0x04 || 0x03 || binding (32) || len(device) || device || 0x01 || len(owner) || owner
///      || metadata_hash (32) || nonce (u64 BE) || deadline (u64 BE) || len(maker) || maker
/// ```
pub fn onboarding_payload(
    binding: &[u8; 32],
    device: &DeviceId,
    owner: &str,
    metadata_hash: &[u8; 32],
    nonce: u64,
    deadline: u64,
    maker: &DeviceId,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 32 + 2 + 34 + 2 + owner.len() + 48 + 35);
    out.push(ONBOARDING_VERSION);
    out.push(COSMOS_BACKEND_KIND);
    out.extend_from_slice(binding);
    push_device(&mut out, device);
    push_owner(&mut out, owner);
    out.extend_from_slice(metadata_hash);
    out.extend_from_slice(&nonce.to_be_bytes());
    out.extend_from_slice(&deadline.to_be_bytes());
    push_device(&mut out, maker);
    out
}

/// The digest a device signs: [`registration_payload`] under [`registration_domain`].
pub fn registration_digest(
    domain: &Domain,
    device: &DeviceId,
    owner: &str,
    metadata_hash: &[u8; 32],
    nonce: u64,
    deadline: u64,
) -> [u8; 32] {
    domain.digest(
        MessageKind::DEVICE_REGISTRATION,
        &registration_payload(device, owner, metadata_hash, nonce, deadline),
    )
}

/// The digest a maker signs: [`onboarding_payload`] under [`registration_domain`].
#[allow(clippy::too_many_arguments)]
pub fn onboarding_digest(
    domain: &Domain,
    binding: &[u8; 32],
    device: &DeviceId,
    owner: &str,
    metadata_hash: &[u8; 32],
    nonce: u64,
    deadline: u64,
    maker: &DeviceId,
) -> [u8; 32] {
    domain.digest(
        MessageKind::MAKER_ONBOARDING,
        &onboarding_payload(
            binding,
            device,
            owner,
            metadata_hash,
            nonce,
            deadline,
            maker,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_binds_chain_and_contract() {
        let a = registration_domain("juno-1", "juno1abc").unwrap();
        let b = registration_domain("juno-2", "juno1abc").unwrap();
        let c = registration_domain("juno-1", "juno1abd").unwrap();
        let k = MessageKind::DEVICE_REGISTRATION;
        assert_ne!(a.digest(k, b"m"), b.digest(k, b"m"));
        assert_ne!(a.digest(k, b"m"), c.digest(k, b"m"));
        assert_eq!(
            a.digest(k, b"m"),
            registration_domain("juno-1", "juno1abc")
                .unwrap()
                .digest(k, b"m")
        );
        assert_eq!(a.network.as_str().len(), 32);
        assert!(a.network.as_str().starts_with("cw"));
    }
}
