//! Device identifiers and their W3C `did:key` text form.
//!
//! A [`DeviceId`] names a device by its public key. Its text form is the
//! [`did:key` method](https://w3c-ccg.github.io/did-method-key/): `did:key:` followed by
//! the multibase base58btc (`z`) encoding of a multicodec-prefixed public key:
//!
//! | key type  | multicodec      | varint prefix | key bytes             | text starts with |
//! |-----------|-----------------|---------------|-----------------------|------------------|
//! | Ed25519   | `ed25519-pub`   | `ed 01`       | 32                    | `did:key:z6Mk`   |
//! | secp256k1 | `secp256k1-pub` | `e7 01`       | 33 (compressed SEC1)  | `did:key:zQ3s`   |
//! | P-256     | `p256-pub`      | `80 24`       | 33 (compressed SEC1)  | `did:key:zDn`    |
//!
//! The binary form (used inside signed messages) is `key type tag (1 byte) || key bytes`.

use core::fmt;
use core::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::keys::{KeyType, PublicKey, PublicKeyBytes};

/// Prefix of every did:key string.
pub const DID_KEY_PREFIX: &str = "did:key:";
/// Length of a [`KeyHint`].
pub const KEY_HINT_LEN: usize = 8;

/// A short, non-unique hint of a device key carried in compact frames: the first
/// 8 bytes of `SHA-256(key type tag || key bytes)`.
pub type KeyHint = [u8; KEY_HINT_LEN];

/// A stable device identifier derived from (and equal to) the device's public key.
///
/// Construction from bytes checks the key type, length and encoding prefix but does not
/// do curve arithmetic; [`DeviceId::public_key`] performs the full strict validation.
///
/// ```
/// use depin_core::{DeviceId, KeyType, SigningKey};
/// let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[7u8; 32]).unwrap();
/// let id = DeviceId::from(&key.public_key());
/// let text = id.to_string();
/// assert!(text.starts_with("did:key:z6Mk"));
/// assert_eq!(text.parse::<DeviceId>().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId {
    key_type: KeyType,
    key: PublicKeyBytes,
}

impl DeviceId {
    /// Maximum binary length (`1 + 33`).
    pub const MAX_LEN: usize = 34;

    /// Build an id from a key type and encoded key bytes (checks length and prefix).
    pub fn new(key_type: KeyType, key_bytes: &[u8]) -> Result<Self> {
        let expected = key_type.public_key_len();
        if key_bytes.len() != expected {
            return Err(Error::InvalidKeyLength {
                key_type,
                expected,
                actual: key_bytes.len(),
            });
        }
        if key_type != KeyType::Ed25519 && !matches!(key_bytes.first(), Some(0x02 | 0x03)) {
            return Err(Error::InvalidKey {
                key_type,
                reason: "expected a compressed SEC1 point (prefix 0x02 or 0x03)",
            });
        }
        Ok(DeviceId {
            key_type,
            key: PublicKeyBytes::from_slice(key_bytes),
        })
    }

    /// Parse the binary form `tag || key bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (&tag, key) = bytes.split_first().ok_or(Error::Truncated)?;
        DeviceId::new(KeyType::from_tag(tag)?, key)
    }

    /// Write the binary form into `out`, returning the number of bytes written.
    pub fn write_bytes(&self, out: &mut [u8]) -> Result<usize> {
        let key = self.key.as_ref();
        let n = 1 + key.len();
        let dst = out
            .get_mut(..n)
            .ok_or(Error::BufferTooSmall { needed: n })?;
        dst[0] = self.key_type.tag();
        dst[1..].copy_from_slice(key);
        Ok(n)
    }

    /// The binary form in a fixed buffer, and its length.
    pub fn to_bytes(&self) -> ([u8; Self::MAX_LEN], usize) {
        let mut buf = [0u8; Self::MAX_LEN];
        let key = self.key.as_ref();
        buf[0] = self.key_type.tag();
        buf[1..1 + key.len()].copy_from_slice(key);
        (buf, 1 + key.len())
    }

    /// The key scheme.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The encoded public key bytes.
    pub fn key_bytes(&self) -> &[u8] {
        self.key.as_ref()
    }

    /// Parse and strictly validate the public key this id names.
    pub fn public_key(&self) -> Result<PublicKey> {
        PublicKey::from_bytes(self.key_type, self.key.as_ref())
    }

    /// Parse the public key of an id whose key already passed [`DeviceId::public_key`]
    /// (see [`PublicKey::from_prechecked_bytes`]: for registries that validate keys once,
    /// at registration, and keep that fact).
    pub fn public_key_prechecked(&self) -> Result<PublicKey> {
        PublicKey::from_prechecked_bytes(self.key_type, self.key.as_ref())
    }

    /// The 8-byte key hint used in compact frames.
    pub fn key_hint(&self) -> KeyHint {
        let (buf, len) = self.to_bytes();
        let digest = Sha256::digest(&buf[..len]);
        let mut hint = [0u8; KEY_HINT_LEN];
        hint.copy_from_slice(&digest[..KEY_HINT_LEN]);
        hint
    }

    /// Check that this is the key a compact message names by key type and key hint (report
    /// frames, challenge responses): [`Error::KeyTypeMismatch`] for another scheme,
    /// [`Error::InvalidFrame`] for another hint.
    pub fn check_named(&self, key_type: KeyType, key_hint: &KeyHint) -> Result<()> {
        if self.key_type != key_type {
            return Err(Error::KeyTypeMismatch {
                key: self.key_type,
                signature: key_type,
            });
        }
        if self.key_hint() != *key_hint {
            return Err(Error::InvalidFrame("key hint does not match the key"));
        }
        Ok(())
    }

    fn multicodec_prefix(key_type: KeyType) -> [u8; 2] {
        match key_type {
            KeyType::Ed25519 => [0xed, 0x01],
            KeyType::Secp256k1 => [0xe7, 0x01],
            KeyType::P256 => [0x80, 0x24],
        }
    }

    /// Parse a `did:key:z...` string.
    pub fn from_did(s: &str) -> Result<Self> {
        let rest = s
            .strip_prefix(DID_KEY_PREFIX)
            .ok_or(Error::InvalidDid("missing did:key: prefix"))?;
        let b58 = rest
            .strip_prefix('z')
            .ok_or(Error::InvalidDid("multibase must be base58btc ('z')"))?;
        // 2 bytes of multicodec + at most 33 of key; base58 of 35 bytes is at most 48 chars.
        if b58.len() > 60 {
            return Err(Error::InvalidDid("too long"));
        }
        let mut buf = [0u8; 48];
        let n = bs58::decode(b58)
            .onto(&mut buf[..])
            .map_err(|_| Error::InvalidDid("invalid base58btc"))?;
        let raw = &buf[..n];
        let (codec, key) = raw
            .split_at_checked(2)
            .ok_or(Error::InvalidDid("too short"))?;
        let key_type = KeyType::ALL
            .into_iter()
            .find(|kt| Self::multicodec_prefix(*kt) == codec)
            .ok_or(Error::InvalidDid("unsupported multicodec"))?;
        DeviceId::new(key_type, key)
    }

    /// Write the did:key form into a fixed buffer; returns the string slice.
    pub fn write_did<'b>(&self, out: &'b mut [u8; 64]) -> &'b str {
        let prefix = DID_KEY_PREFIX.as_bytes();
        out[..prefix.len()].copy_from_slice(prefix);
        out[prefix.len()] = b'z';
        let mut raw = [0u8; 35];
        raw[..2].copy_from_slice(&Self::multicodec_prefix(self.key_type));
        let key = self.key.as_ref();
        raw[2..2 + key.len()].copy_from_slice(key);
        let start = prefix.len() + 1;
        let n = bs58::encode(&raw[..2 + key.len()])
            .onto(&mut out[start..])
            .unwrap_or(0);
        core::str::from_utf8(&out[..start + n]).unwrap_or("did:key:invalid")
    }
}

impl From<&PublicKey> for DeviceId {
    fn from(pk: &PublicKey) -> Self {
        DeviceId {
            key_type: pk.key_type(),
            key: pk.to_bytes(),
        }
    }
}

impl From<PublicKey> for DeviceId {
    fn from(pk: PublicKey) -> Self {
        DeviceId::from(&pk)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        f.write_str(self.write_did(&mut buf))
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({self})")
    }
}

impl FromStr for DeviceId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        DeviceId::from_did(s)
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::DeviceId;
    use core::fmt;
    use serde::de::Visitor;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for DeviceId {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if s.is_human_readable() {
                s.collect_str(self)
            } else {
                let (buf, len) = self.to_bytes();
                s.serialize_bytes(&buf[..len])
            }
        }
    }

    struct IdVisitor;

    impl Visitor<'_> for IdVisitor {
        type Value = DeviceId;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a did:key string or key-type-tagged key bytes")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DeviceId, E> {
            DeviceId::from_did(v).map_err(E::custom)
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<DeviceId, E> {
            DeviceId::from_bytes(v).map_err(E::custom)
        }
    }

    impl<'de> Deserialize<'de> for DeviceId {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            if d.is_human_readable() {
                d.deserialize_str(IdVisitor)
            } else {
                d.deserialize_bytes(IdVisitor)
            }
        }
    }
}
