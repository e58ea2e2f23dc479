use cosmwasm_std::Addr;
use cw_storage_plus::{Item, Map};
use serde::{Deserialize, Serialize};

/// Admin and settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub makers_only: bool,
}

/// A registered device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub owner: Addr,
    pub metadata_hash: [u8; 32],
    pub revoked: bool,
    /// The binary id of the maker that onboarded it.
    pub maker: Option<Vec<u8>>,
    /// `depin_core::TrustLevel` tag.
    pub trust: u8,
}

/// An approved maker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maker {
    pub name: String,
    pub quota: u64,
    pub onboarded: u64,
    pub revoked: bool,
    pub devices_suspended: bool,
}

pub const CONFIG: Item<Config> = Item::new("config");
/// Devices by binary id (`tag || key`).
pub const DEVICES: Map<&[u8], Device> = Map::new("devices");
/// Registration nonces by binary device id: consumed by every registration.
pub const NONCES: Map<&[u8], u64> = Map::new("nonces");
/// Makers by binary id.
pub const MAKERS: Map<&[u8], Maker> = Map::new("makers");
