//! Building and signing Cosmos SDK transactions (SIGN_MODE_DIRECT) with cosmrs.
//!
//! cosmrs assembles the protobuf `TxBody`, `AuthInfo` (one `SignerInfo::single_direct` with the
//! account's public key and sequence, and the `Fee`) and the `SignDoc` (body bytes, auth-info
//! bytes, chain id, account number). The signature over the SignDoc bytes is made by depin-core:
//! SIGN_MODE_DIRECT is ECDSA/secp256k1 over SHA-256 of the SignDoc bytes, 64-byte `r || s` with
//! low S, which is exactly [`SigningKey::sign_raw`]. The secret therefore never leaves
//! depin-core (which uses k256 0.14; cosmrs 0.22 pins k256 0.13). A unit test checks the bytes
//! are identical to cosmrs's own signer given the same secret.

use cosmrs::cosmwasm::MsgExecuteContract;
use cosmrs::crypto::PublicKey as CosmosPublicKey;
use cosmrs::proto::cosmos::tx::v1beta1::TxRaw;
use cosmrs::proto::prost::Message;
use cosmrs::tendermint::chain;
use cosmrs::tx::{Body, Fee, Msg, SignDoc, SignerInfo};
use cosmrs::{AccountId, Any, Coin};
use depin_core::{KeyType, PublicKey, SigningKey};

use crate::error::{Error, Result};

fn cosmrs_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("{what}: {e}"))
}

/// The Cosmos identity of a secp256k1 signing key.
pub struct CosmosSigner {
    key: SigningKey,
    public: CosmosPublicKey,
    address: AccountId,
}

impl std::fmt::Debug for CosmosSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosmosSigner")
            .field("address", &self.address.to_string())
            .finish()
    }
}

impl CosmosSigner {
    /// A signer for the 32-byte secp256k1 `secret`, with addresses under `prefix`.
    pub fn new(secret: &[u8; 32], prefix: &str) -> Result<Self> {
        let key = SigningKey::from_secret_bytes(KeyType::Secp256k1, secret)
            .map_err(|_| Error::Config("the signer secret is not a valid secp256k1 key".into()))?;
        let pk = key.public_key();
        let public = cosmos_public_key(&pk)?;
        let id = depin_core::cosmos_account_id(&pk)?;
        let address = AccountId::new(prefix, &id)
            .map_err(|e| Error::Config(format!("invalid bech32 prefix {prefix:?}: {e}")))?;
        Ok(CosmosSigner {
            key,
            public,
            address,
        })
    }

    /// The bech32 account address.
    pub fn address(&self) -> &AccountId {
        &self.address
    }

    /// The 33-byte compressed public key.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        self.public.to_bytes()
    }
}

/// The cosmrs public key (`/cosmos.crypto.secp256k1.PubKey`) of a depin-core secp256k1 key.
pub fn cosmos_public_key(pk: &PublicKey) -> Result<CosmosPublicKey> {
    if pk.key_type() != KeyType::Secp256k1 {
        return Err(Error::Unsupported(
            "Cosmos accounts use secp256k1 keys".into(),
        ));
    }
    let proto = cosmrs::proto::cosmos::crypto::secp256k1::PubKey {
        key: pk.to_bytes().as_ref().to_vec(),
    };
    CosmosPublicKey::try_from(proto).map_err(|e| cosmrs_err("public key", e))
}

/// A `/cosmwasm.wasm.v1.MsgExecuteContract` carrying `msg` as JSON, no funds.
pub fn execute_contract<T: serde::Serialize>(
    sender: &AccountId,
    contract: &AccountId,
    msg: &T,
) -> Result<Any> {
    let json = serde_json::to_vec(msg).map_err(|e| cosmrs_err("message JSON", e))?;
    MsgExecuteContract {
        sender: sender.clone(),
        contract: contract.clone(),
        msg: json,
        funds: Vec::new(),
    }
    .to_any()
    .map_err(|e| cosmrs_err("MsgExecuteContract", e))
}

/// Everything besides the messages that a signed transaction commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxParams {
    /// Chain id (part of the SignDoc).
    pub chain_id: String,
    /// The signer's account number (part of the SignDoc).
    pub account_number: u64,
    /// The signer's sequence (in the SignerInfo).
    pub sequence: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Fee amount, in `fee_denom`.
    pub fee_amount: u128,
    /// Fee denomination.
    pub fee_denom: String,
    /// Memo.
    pub memo: String,
}

/// Build the body and auth-info bytes.
fn body_and_auth(
    signer: &CosmosSigner,
    msgs: Vec<Any>,
    p: &TxParams,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let body = Body::new(msgs, p.memo.clone(), 0u32);
    let coin = Coin::new(p.fee_amount, &p.fee_denom).map_err(|e| cosmrs_err("fee coin", e))?;
    let fee = Fee::from_amount_and_gas(coin, p.gas_limit);
    let auth_info = SignerInfo::single_direct(Some(signer.public), p.sequence).auth_info(fee);
    let body_bytes = body.into_bytes().map_err(|e| cosmrs_err("tx body", e))?;
    let auth_bytes = auth_info
        .into_bytes()
        .map_err(|e| cosmrs_err("auth info", e))?;
    Ok((body_bytes, auth_bytes))
}

/// The SIGN_MODE_DIRECT sign bytes (protobuf `SignDoc`).
fn sign_doc_bytes(body: &[u8], auth: &[u8], p: &TxParams) -> Result<Vec<u8>> {
    let chain_id = chain::Id::try_from(p.chain_id.clone())
        .map_err(|e| Error::Config(format!("invalid chain id {:?}: {e}", p.chain_id)))?;
    let doc = SignDoc {
        body_bytes: body.to_vec(),
        auth_info_bytes: auth.to_vec(),
        chain_id: chain_id.to_string(),
        account_number: p.account_number,
    };
    doc.into_bytes().map_err(|e| cosmrs_err("sign doc", e))
}

/// Build and sign a transaction; returns the protobuf `TxRaw` bytes to broadcast.
pub fn sign_tx(signer: &CosmosSigner, msgs: Vec<Any>, p: &TxParams) -> Result<Vec<u8>> {
    let (body, auth) = body_and_auth(signer, msgs, p)?;
    let doc = sign_doc_bytes(&body, &auth, p)?;
    let sig = signer.key.sign_raw(&doc)?.to_bytes().to_vec();
    Ok(TxRaw {
        body_bytes: body,
        auth_info_bytes: auth,
        signatures: vec![sig],
    }
    .encode_to_vec())
}

/// The same transaction with an empty signature, for `Simulate` (which skips signature checks
/// but needs the public key and sequence).
pub fn simulation_tx(signer: &CosmosSigner, msgs: Vec<Any>, p: &TxParams) -> Result<Vec<u8>> {
    let (body, auth) = body_and_auth(signer, msgs, p)?;
    Ok(TxRaw {
        body_bytes: body,
        auth_info_bytes: auth,
        signatures: vec![Vec::new()],
    }
    .encode_to_vec())
}

/// A gas price as an exact decimal (`"0.025"`), parsed without floats by the one decimal
/// parser of the workspace, [`depin_rewards::Fixed`] (at most 18 decimal places).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GasPrice(depin_rewards::Fixed);

impl GasPrice {
    /// Parse `"0.025"`, `"1"`, `"0"`; at most 18 decimal places; no sign, exponent, or empty
    /// integer or fraction part (`".5"`, `"1."`).
    pub fn parse(s: &str) -> Result<Self> {
        s.parse::<depin_rewards::Fixed>()
            .map(GasPrice)
            .map_err(|_| {
                Error::Config(format!(
                    "invalid gas price {s:?} (an exact decimal like 0.025)"
                ))
            })
    }

    /// `ceil(gas * price)`, the fee in base units.
    pub fn fee_for(&self, gas: u64) -> Result<u128> {
        let product = u128::from(gas)
            .checked_mul(self.0.raw())
            .ok_or_else(|| Error::InvalidInput("fee overflows u128".into()))?;
        Ok(product.div_ceil(depin_rewards::Fixed::SCALE))
    }
}

/// `ceil(simulated * percent / 100)`: the gas limit from a simulation and an adjustment.
pub fn adjusted_gas(simulated: u64, percent: u32) -> u64 {
    let g = u128::from(simulated) * u128::from(percent);
    u64::try_from(g.div_ceil(100)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmrs::tx::Raw;

    fn params() -> TxParams {
        TxParams {
            chain_id: "testing-1".into(),
            account_number: 12,
            sequence: 3,
            gas_limit: 200_000,
            fee_amount: 5_000,
            fee_denom: "ucosm".into(),
            memo: "depin".into(),
        }
    }

    #[test]
    fn signature_is_identical_to_cosmrs_own_signer() {
        let secret = [0x11u8; 32];
        let signer = CosmosSigner::new(&secret, "wasm").unwrap();
        let contract = signer.address().clone();
        let msg = execute_contract(
            signer.address(),
            &contract,
            &serde_json::json!({"latest_stage": {}}),
        )
        .unwrap();
        let ours = sign_tx(&signer, vec![msg.clone()], &params()).unwrap();

        // cosmrs end to end, with its own k256 0.13 key made from the same secret bytes.
        let key = cosmrs::crypto::secp256k1::SigningKey::from_slice(&secret).unwrap();
        assert_eq!(key.public_key(), signer.public);
        let p = params();
        let body = Body::new(vec![msg], p.memo.clone(), 0u32);
        let fee = Fee::from_amount_and_gas(Coin::new(p.fee_amount, "ucosm").unwrap(), p.gas_limit);
        let auth = SignerInfo::single_direct(Some(key.public_key()), p.sequence).auth_info(fee);
        let doc =
            SignDoc::new(&body, &auth, &p.chain_id.parse().unwrap(), p.account_number).unwrap();
        let theirs = doc.sign(&key).unwrap().to_bytes().unwrap();
        assert_eq!(ours, theirs);
        // And the bytes decode as a TxRaw with one 64-byte signature.
        let raw: TxRaw = Raw::from_bytes(&ours).unwrap().into();
        assert_eq!(raw.signatures.len(), 1);
        assert_eq!(raw.signatures[0].len(), 64);
    }

    #[test]
    fn address_matches_depin_core() {
        let signer = CosmosSigner::new(&[7u8; 32], "cosmos").unwrap();
        let key = SigningKey::from_secret_bytes(KeyType::Secp256k1, &[7u8; 32]).unwrap();
        assert_eq!(
            signer.address().to_string(),
            depin_core::cosmos_address(&key.public_key(), "cosmos").unwrap()
        );
        assert!(CosmosSigner::new(&[0u8; 32], "cosmos").is_err());
        assert!(CosmosSigner::new(&[7u8; 32], "Not A Prefix").is_err());
    }

    #[test]
    fn gas_price_is_exact() {
        let p = GasPrice::parse("0.025").unwrap();
        assert_eq!(p.fee_for(200_000).unwrap(), 5_000);
        assert_eq!(p.fee_for(1).unwrap(), 1); // ceil(0.025)
        assert_eq!(p.fee_for(0).unwrap(), 0);
        assert_eq!(GasPrice::parse("1").unwrap().fee_for(7).unwrap(), 7);
        assert_eq!(GasPrice::parse("0").unwrap().fee_for(7).unwrap(), 0);
        assert_eq!(
            GasPrice::parse("0.000000000000000001")
                .unwrap()
                .fee_for(7)
                .unwrap(),
            1
        );
        for bad in [
            "",
            ".5",
            "1.",
            "-1",
            "1e3",
            "0.0000000000000000001",
            "abc",
            "1.2.3",
        ] {
            assert!(GasPrice::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(adjusted_gas(100_000, 130), 130_000);
        assert_eq!(adjusted_gas(101, 130), 132); // ceil(131.3)
        assert_eq!(adjusted_gas(u64::MAX, 200), u64::MAX);
    }

    #[test]
    fn simulation_tx_has_an_empty_signature() {
        let signer = CosmosSigner::new(&[3u8; 32], "wasm").unwrap();
        let tx = simulation_tx(&signer, vec![], &params()).unwrap();
        let raw = TxRaw::decode(tx.as_slice()).unwrap();
        assert_eq!(raw.signatures, vec![Vec::<u8>::new()]);
    }
}
