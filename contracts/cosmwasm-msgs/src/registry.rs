//! The device registry contract's messages.
//!
//! A device registers itself ([`ExecuteMsg::Register`]) with its own signature over
//! [`crate::signing::registration_payload`] under [`crate::signing::registration_domain`]
//! (Ed25519, secp256k1 and P-256 keys: the contract checks each with the CosmWasm host
//! function for its curve), or is onboarded by an approved maker ([`ExecuteMsg::Onboard`])
//! with the maker's signature over [`crate::signing::onboarding_payload`] and the device's
//! own. Every registration consumes the device's nonce ([`QueryMsg::Nonce`]), so a signature
//! is good for one registration on one chain and contract only.

use alloc::string::String;
use serde::{Deserialize, Serialize};

/// Instantiation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstantiateMsg {
    /// The network admin (approves makers, may revoke any device); the instantiating
    /// account when `None`.
    pub admin: Option<String>,
    /// Devices may join only through a maker ([`ExecuteMsg::Register`] is refused).
    #[serde(default)]
    pub makers_only: bool,
}

/// Execute messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ExecuteMsg {
    /// Register a device by itself (recorded untrusted). Anyone may send it; the device's
    /// signature is what authorizes it.
    Register {
        /// The registration.
        registration: Registration,
        /// The device's signature over [`crate::signing::registration_payload`] for its
        /// current nonce, lowercase hex (64 bytes: Ed25519, or ECDSA `r || s` with low `s`).
        signature: String,
    },
    /// Onboard a device through an approved maker (recorded with maker trust): the maker's
    /// signature over [`crate::signing::onboarding_payload`] and the device's own over
    /// [`crate::signing::registration_payload`], both for the device's current nonce.
    Onboard {
        /// The registration.
        registration: Registration,
        /// The maker's `did:key`.
        maker: String,
        /// The maker's signature, lowercase hex (64 bytes).
        maker_signature: String,
        /// The device's signature, lowercase hex (64 bytes).
        signature: String,
    },
    /// Revoke a device: its owner or the admin.
    Revoke {
        /// The device's `did:key`.
        device: String,
    },
    /// Approve a maker's key (admin only).
    ApproveMaker {
        /// The maker's `did:key`.
        maker: String,
        /// Display name: 1 to [`MAX_MAKER_NAME_LEN`] bytes, no control characters.
        name: String,
        /// Devices the maker may onboard in all.
        quota: u64,
    },
    /// Revoke a maker (admin only): it onboards nothing more; with `suspend_devices` its
    /// devices read as inactive.
    RevokeMaker {
        /// The maker's `did:key`.
        maker: String,
        /// Suspend the devices it onboarded.
        suspend_devices: bool,
    },
    /// Choose whether devices may register by themselves (admin only).
    SetMakersOnly {
        /// `true`: only [`ExecuteMsg::Onboard`].
        makers_only: bool,
    },
    /// First step of an admin handover (admin only); replaces any pending proposal.
    ProposeAdmin {
        /// The proposed admin.
        admin: String,
    },
    /// Second step: the proposed admin takes over.
    AcceptAdmin {},
}

/// The fields every registration carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The device's `did:key` (Ed25519, secp256k1 or P-256).
    pub device: String,
    /// The bech32 account that owns the device (and receives its rewards).
    pub owner: String,
    /// SHA-256 of the device's metadata, lowercase hex.
    pub metadata_hash: String,
    /// Unix seconds after which the signatures are refused.
    pub deadline: u64,
}

/// Longest maker name, bytes of UTF-8.
pub const MAX_MAKER_NAME_LEN: usize = 64;

/// Query messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum QueryMsg {
    /// A device's record ([`DeviceResponse`]); an error naming "Device not found" if absent.
    Device {
        /// The device's `did:key`.
        device: String,
    },
    /// The nonce the device's next registration must sign ([`NonceResponse`]).
    Nonce {
        /// The device's `did:key`.
        device: String,
    },
    /// A maker's record ([`MakerResponse`]); "Maker not found" if never approved.
    Maker {
        /// The maker's `did:key`.
        maker: String,
    },
    /// Admin and settings ([`ConfigResponse`]).
    Config {},
}

/// How far the registry trusts a device: the tag of `depin_core::TrustLevel`.
pub type TrustTag = u8;

/// Answer to [`QueryMsg::Device`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceResponse {
    /// The device's `did:key`.
    pub device: String,
    /// Its owner.
    pub owner: String,
    /// depin-core key type tag.
    pub key_type: u8,
    /// SHA-256 of its metadata, lowercase hex.
    pub metadata_hash: String,
    /// `false` once revoked, or while its maker is revoked with its devices suspended.
    pub active: bool,
    /// The maker that onboarded it.
    pub maker: Option<String>,
    /// Its trust level (`depin_core::TrustLevel` tag).
    pub trust: TrustTag,
}

/// Answer to [`QueryMsg::Nonce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceResponse {
    /// The nonce the next registration signature must use.
    pub nonce: u64,
}

/// Answer to [`QueryMsg::Maker`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakerResponse {
    /// The maker's `did:key`.
    pub maker: String,
    /// Its display name.
    pub name: String,
    /// Devices it may onboard in all.
    pub quota: u64,
    /// Devices it onboarded.
    pub onboarded: u64,
    /// `false` once revoked.
    pub active: bool,
    /// Whether its devices were suspended when it was revoked.
    pub devices_suspended: bool,
}

/// Answer to [`QueryMsg::Config`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigResponse {
    /// The admin.
    pub admin: String,
    /// An admin proposed and not yet accepted.
    pub pending_admin: Option<String>,
    /// Whether devices may join only through makers.
    pub makers_only: bool,
}
