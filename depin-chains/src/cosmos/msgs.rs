//! The CosmWasm execute and query messages, as JSON.
//!
//! Reward messages use exactly the format of `cw20-merkle-airdrop` (CosmWasm/cw-tokens):
//!
//! ```json
//! {"register_merkle_root": {"merkle_root": "<hex>", "expiration": null, "start": null, "total_amount": "1350"}}
//! {"claim": {"stage": 1, "amount": "100", "proof": ["<hex>", "<hex>"]}}
//! {"merkle_root": {"stage": 1}}            -> {"stage", "merkle_root", "expiration", "start", "total_amount"}
//! {"latest_stage": {}}                     -> {"latest_stage": 1}
//! {"is_claimed": {"stage": 1, "address": "wasm1..."}} -> {"is_claimed": true}
//! ```
//!
//! plus one query our cumulative distributor adds (see `docs/chains-evm-cosmos.md`):
//! `{"claimed_amount": {"address": "wasm1..."}}` -> `{"claimed": "100"}`.
//!
//! Registry messages are our own design (documented in `docs/chains-evm-cosmos.md`):
//!
//! ```json
//! {"register": {"device": "did:key:z...", "owner": "wasm1...", "key_type": 1,
//!               "metadata_hash": "<hex>", "deadline": 4102444800, "signature": "<hex, 64 bytes>"}}
//! {"revoke": {"device": "did:key:z..."}}
//! {"device": {"device": "did:key:z..."}}   -> {"device", "owner", "key_type", "metadata_hash", "active"}
//! {"nonce": {"device": "did:key:z..."}}    -> {"nonce": 0}
//! ```

use serde::{Deserialize, Serialize};

/// Execute messages of the device registry contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryExecute {
    /// Register a device; the signature is a depin-core domain signature by the device key
    /// over `DeviceRegistration::signing_message(nonce)`.
    Register {
        /// `did:key` of the device.
        device: String,
        /// Bech32 owner address.
        owner: String,
        /// depin-core key type tag.
        key_type: u8,
        /// SHA-256 of the metadata, lowercase hex.
        metadata_hash: String,
        /// Unix seconds.
        deadline: u64,
        /// 64-byte signature, lowercase hex.
        signature: String,
    },
    /// Revoke a device (owner or admin).
    Revoke {
        /// `did:key` of the device.
        device: String,
    },
}

/// Query messages of the device registry contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryQuery {
    /// The device record.
    Device {
        /// `did:key` of the device.
        device: String,
    },
    /// The registration nonce of the device.
    Nonce {
        /// `did:key` of the device.
        device: String,
    },
}

/// Answer to [`RegistryQuery::Device`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceResponse {
    /// `did:key` of the device.
    pub device: String,
    /// Bech32 owner.
    pub owner: String,
    /// depin-core key type tag.
    pub key_type: u8,
    /// Lowercase hex SHA-256 of the metadata.
    pub metadata_hash: String,
    /// `false` once revoked.
    pub active: bool,
}

/// Answer to [`RegistryQuery::Nonce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceResponse {
    /// The nonce the next registration signature must use.
    pub nonce: u64,
}

/// Execute messages of the distributor, in the cw20-merkle-airdrop format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AirdropExecute {
    /// Register the next stage's root (owner only).
    RegisterMerkleRoot {
        /// Lowercase hex root.
        merkle_root: String,
        /// Always `null` here (no expiry).
        expiration: Option<serde_json::Value>,
        /// Always `null` here (claimable at once).
        start: Option<serde_json::Value>,
        /// Decimal total (a `Uint128` string).
        total_amount: Option<String>,
    },
    /// Claim `amount` for the sender against `stage`.
    Claim {
        /// The stage (our epoch).
        stage: u8,
        /// Decimal amount (a `Uint128` string).
        amount: String,
        /// Lowercase hex sibling hashes, leaf to root.
        proof: Vec<String>,
    },
}

/// Query messages of the distributor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AirdropQuery {
    /// The root of a stage.
    MerkleRoot {
        /// The stage.
        stage: u8,
    },
    /// The latest registered stage (0 before the first).
    LatestStage {},
    /// Whether `address` claimed in `stage`.
    IsClaimed {
        /// The stage.
        stage: u8,
        /// Bech32 address.
        address: String,
    },
    /// Cumulative amount paid to `address` (our cumulative distributor only).
    ClaimedAmount {
        /// Bech32 address.
        address: String,
    },
}

/// Answer to [`AirdropQuery::MerkleRoot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleRootResponse {
    /// The stage.
    pub stage: u8,
    /// Lowercase hex root.
    pub merkle_root: String,
    /// Decimal total.
    pub total_amount: String,
}

/// Answer to [`AirdropQuery::LatestStage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestStageResponse {
    /// The latest stage, 0 before the first registration.
    pub latest_stage: u8,
}

/// Answer to [`AirdropQuery::ClaimedAmount`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedAmountResponse {
    /// Decimal cumulative amount paid.
    pub claimed: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn airdrop_messages_have_the_cw20_merkle_airdrop_shape() {
        let m = AirdropExecute::RegisterMerkleRoot {
            merkle_root: "ab".into(),
            expiration: None,
            start: None,
            total_amount: Some("10".into()),
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"register_merkle_root": {"merkle_root": "ab", "expiration": null, "start": null, "total_amount": "10"}})
        );
        let c = AirdropExecute::Claim {
            stage: 1,
            amount: "100".into(),
            proof: vec!["aa".into(), "bb".into()],
        };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"claim": {"stage": 1, "amount": "100", "proof": ["aa", "bb"]}})
        );
        assert_eq!(
            serde_json::to_value(AirdropQuery::LatestStage {}).unwrap(),
            json!({"latest_stage": {}})
        );
        assert_eq!(
            serde_json::to_value(AirdropQuery::IsClaimed {
                stage: 2,
                address: "w".into()
            })
            .unwrap(),
            json!({"is_claimed": {"stage": 2, "address": "w"}})
        );
        // cw20-merkle-airdrop's MerkleRootResponse has more fields; extra ones are ignored.
        let r: MerkleRootResponse = serde_json::from_value(json!({
            "stage": 1, "merkle_root": "ab", "expiration": {"never": {}}, "start": null, "total_amount": "5"
        }))
        .unwrap();
        assert_eq!(r.total_amount, "5");
    }

    #[test]
    fn registry_messages_round_trip() {
        let m = RegistryExecute::Revoke {
            device: "did:key:z".into(),
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v, json!({"revoke": {"device": "did:key:z"}}));
        assert_eq!(serde_json::from_value::<RegistryExecute>(v).unwrap(), m);
        assert_eq!(
            serde_json::to_value(RegistryQuery::Nonce { device: "d".into() }).unwrap(),
            json!({"nonce": {"device": "d"}})
        );
    }
}
