//! Chain identities derived from a secp256k1 device key: an EVM address (EIP-55
//! checksummed text) and a Cosmos account address (bech32 with a caller-chosen prefix).

use core::fmt;
use core::str::FromStr;

use sha2::{Digest, Sha256};
use sha3::Keccak256;

use crate::error::{Error, Result};
use crate::keys::{KeyType, PublicKey};

/// A 20-byte EVM account address.
///
/// ```
/// use depin_core::EvmAddress;
/// // EIP-55 example address
/// let a: EvmAddress = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".parse().unwrap();
/// assert_eq!(a.to_string(), "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EvmAddress(pub [u8; 20]);

impl EvmAddress {
    /// The address of a secp256k1 public key: the last 20 bytes of
    /// `keccak256(x || y)` of the uncompressed point.
    pub fn from_public_key(pk: &PublicKey) -> Result<Self> {
        match pk.key_type() {
            KeyType::Secp256k1 => {
                let uncompressed = pk.to_uncompressed_sec1()?;
                let hash = Keccak256::digest(&uncompressed[1..]);
                let mut out = [0u8; 20];
                out.copy_from_slice(&hash[12..]);
                Ok(EvmAddress(out))
            }
            _ => Err(Error::InvalidAddress(
                "EVM addresses are derived from secp256k1 keys only",
            )),
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Write the EIP-55 checksummed form (`0x` + 40 hex digits) into `out`.
    pub fn write_checksummed<'b>(&self, out: &'b mut [u8; 42]) -> &'b str {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut lower = [0u8; 40];
        for (i, b) in self.0.iter().enumerate() {
            lower[2 * i] = HEX[usize::from(b >> 4)];
            lower[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        let hash = Keccak256::digest(lower);
        out[0] = b'0';
        out[1] = b'x';
        for (i, c) in lower.iter().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            out[2 + i] = if c.is_ascii_alphabetic() && nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                *c
            };
        }
        core::str::from_utf8(&out[..]).unwrap_or("0x")
    }
}

impl fmt::Display for EvmAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 42];
        f.write_str(self.write_checksummed(&mut buf))
    }
}

impl fmt::Debug for EvmAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EvmAddress({self})")
    }
}

impl FromStr for EvmAddress {
    type Err = Error;

    /// Parse `0x` + 40 hex digits. All-lowercase and all-uppercase forms are accepted;
    /// a mixed-case string must carry a valid EIP-55 checksum.
    fn from_str(s: &str) -> Result<Self> {
        let hex_part = s
            .strip_prefix("0x")
            .ok_or(Error::InvalidAddress("missing 0x prefix"))?;
        if hex_part.len() != 40 {
            return Err(Error::InvalidAddress("expected 40 hex digits"));
        }
        let mut out = [0u8; 20];
        hex::decode_to_slice(hex_part, &mut out)
            .map_err(|_| Error::InvalidAddress("invalid hex digit"))?;
        let addr = EvmAddress(out);
        let has_lower = hex_part.bytes().any(|c| c.is_ascii_lowercase());
        let has_upper = hex_part.bytes().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper {
            let mut buf = [0u8; 42];
            if addr.write_checksummed(&mut buf) != s {
                return Err(Error::InvalidAddress("EIP-55 checksum mismatch"));
            }
        }
        Ok(addr)
    }
}

/// The 20-byte Cosmos account id of a secp256k1 key: `RIPEMD-160(SHA-256(compressed key))`.
pub fn cosmos_account_id(pk: &PublicKey) -> Result<[u8; 20]> {
    match pk.key_type() {
        KeyType::Secp256k1 => {
            let sha = Sha256::digest(pk.to_bytes().as_ref());
            let rip = ripemd::Ripemd160::digest(sha);
            let mut out = [0u8; 20];
            out.copy_from_slice(&rip);
            Ok(out)
        }
        _ => Err(Error::InvalidAddress(
            "Cosmos addresses are derived from secp256k1 keys only",
        )),
    }
}

/// The bech32 Cosmos address of a secp256k1 key with the given human-readable prefix
/// (`cosmos`, `osmo`, `wasm`, ...).
///
/// ```
/// use depin_core::{cosmos_address, KeyType, SigningKey};
/// let key = SigningKey::from_secret_bytes(KeyType::Secp256k1, &[1u8; 32]).unwrap();
/// let addr = cosmos_address(&key.public_key(), "cosmos").unwrap();
/// assert!(addr.starts_with("cosmos1"));
/// ```
#[cfg(feature = "alloc")]
pub fn cosmos_address(pk: &PublicKey, prefix: &str) -> Result<alloc::string::String> {
    let id = cosmos_account_id(pk)?;
    let hrp =
        bech32::Hrp::parse(prefix).map_err(|_| Error::InvalidAddress("invalid bech32 prefix"))?;
    bech32::encode::<bech32::Bech32>(hrp, &id)
        .map_err(|_| Error::InvalidAddress("bech32 encoding failed"))
}

/// Decode a bech32 Cosmos address, checking its prefix; returns the 20-byte account id.
pub fn parse_cosmos_address(address: &str, expected_prefix: &str) -> Result<[u8; 20]> {
    let checked = bech32::primitives::decode::CheckedHrpstring::new::<bech32::Bech32>(address)
        .map_err(|_| Error::InvalidAddress("invalid bech32 string"))?;
    if checked.hrp().as_str() != expected_prefix {
        return Err(Error::InvalidAddress("unexpected bech32 prefix"));
    }
    let mut out = [0u8; 20];
    let mut n = 0usize;
    for byte in checked.byte_iter() {
        let slot = out
            .get_mut(n)
            .ok_or(Error::InvalidAddress("account id longer than 20 bytes"))?;
        *slot = byte;
        n += 1;
    }
    if n != 20 {
        return Err(Error::InvalidAddress("account id must be 20 bytes"));
    }
    Ok(out)
}
