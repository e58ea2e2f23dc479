//! Domain-separated signing.
//!
//! Every signature in depin-rs is made over a *signing digest* that binds a protocol tag
//! and version, the network id, the message kind and (where it applies) the chain id to
//! the payload, so a signature made for one network, kind or chain never verifies for
//! another. The exact bytes:
//!
//! ```text
//! preimage = "DEPIN-RS"            8 bytes, ASCII protocol tag
//!          || 0x01                 1 byte, domain format version
//!          || len(network_id)      1 byte, 1..=32
//!          || network_id           len bytes, ASCII [a-z0-9._-]
//!          || kind                 2 bytes, big-endian u16 (see MessageKind)
//!          || 0x00                 1 byte, when there is no chain id, or
//!          || 0x01 || chain_id     1 + 8 bytes, big-endian u64
//!          || payload              the message bytes (canonical encoding)
//! digest   = SHA-256(preimage)
//! ```
//!
//! * Ed25519 signs the 32-byte `digest` as its message (PureEdDSA over the digest).
//! * ECDSA (secp256k1, P-256) signs `digest` as the prehash, which is exactly ECDSA with
//!   SHA-256 over `preimage`. A secure element that only signs P-256 digests can sign it.
//!
//! The header is prefix-free (every variable part is length-prefixed or tagged), so two
//! different (network, kind, chain) triples can never produce the same preimage prefix.

use core::fmt;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::keys::{PublicKey, Signature, SigningKey};

/// The protocol tag at the start of every preimage.
pub const PROTOCOL_TAG: &[u8; 8] = b"DEPIN-RS";
/// The domain format version.
pub const DOMAIN_VERSION: u8 = 1;
/// Maximum network id length.
pub const MAX_NETWORK_ID_LEN: usize = 32;
/// Maximum header length: 8 + 1 + 1 + 32 + 2 + 1 + 8.
pub const MAX_HEADER_LEN: usize = 53;

/// A network identifier: 1 to 32 bytes of `[a-z0-9._-]`, e.g. `"helium-iot"`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetworkId {
    len: u8,
    bytes: [u8; MAX_NETWORK_ID_LEN],
}

impl NetworkId {
    /// Validate and build a network id.
    ///
    /// ```
    /// use depin_core::NetworkId;
    /// assert!(NetworkId::new("helium-iot").is_ok());
    /// assert!(NetworkId::new("Bad Id").is_err());
    /// ```
    pub fn new(id: &str) -> Result<Self> {
        let raw = id.as_bytes();
        if raw.is_empty() {
            return Err(Error::InvalidNetworkId("empty"));
        }
        if raw.len() > MAX_NETWORK_ID_LEN {
            return Err(Error::InvalidNetworkId("longer than 32 bytes"));
        }
        if !raw.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        }) {
            return Err(Error::InvalidNetworkId(
                "allowed characters are a-z 0-9 . _ -",
            ));
        }
        let mut bytes = [0u8; MAX_NETWORK_ID_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(NetworkId {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The id bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Display for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkId({})", self.as_str())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for NetworkId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for NetworkId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NetworkId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a network id")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> core::result::Result<NetworkId, E> {
                NetworkId::new(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// What a signed message is. Bound into every signature so one kind can never be
/// replayed as another. Values below `0x8000` are reserved for depin-rs; applications
/// define their own kinds at `0x8000` and above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MessageKind(pub u16);

impl MessageKind {
    /// A compact device report frame (see [`crate::frame`]).
    pub const REPORT_FRAME: MessageKind = MessageKind(0x0001);
    /// A device's answer to a network-issued challenge nonce.
    pub const CHALLENGE_RESPONSE: MessageKind = MessageKind(0x0002);
    /// The network's signed answer to a device's time request (depin-device's `time`
    /// module): the device's nonce and the network's unix time.
    pub const TIME_GRANT: MessageKind = MessageKind(0x0003);
    /// A proof-of-coverage beacon report.
    pub const COVERAGE_BEACON: MessageKind = MessageKind(0x0010);
    /// A proof-of-coverage witness report.
    pub const COVERAGE_WITNESS: MessageKind = MessageKind(0x0011);
    /// A storage commitment registration.
    pub const STORAGE_COMMITMENT: MessageKind = MessageKind(0x0020);
    /// A proof-of-storage response.
    pub const STORAGE_PROOF: MessageKind = MessageKind(0x0021);
    /// A metered energy reading.
    pub const ENERGY_READING: MessageKind = MessageKind(0x0030);
    /// An EV charging session.
    pub const CHARGING_SESSION: MessageKind = MessageKind(0x0031);
    /// A bandwidth speed test.
    pub const BANDWIDTH_TEST: MessageKind = MessageKind(0x0040);
    /// A signed deny list.
    pub const DENY_LIST: MessageKind = MessageKind(0x0050);
    /// Proof that a registrant holds a device key.
    pub const DEVICE_REGISTRATION: MessageKind = MessageKind(0x0060);
    /// A maker's attestation that it made a device it onboards.
    pub const MAKER_ONBOARDING: MessageKind = MessageKind(0x0061);
    /// A device's answer to a hardware-evidence challenge (its key signing the registration
    /// nonce the evidence is bound to).
    pub const HARDWARE_EVIDENCE: MessageKind = MessageKind(0x0062);
    /// An epoch reward root published by an oracle.
    pub const REWARD_ROOT: MessageKind = MessageKind(0x0070);
    /// First kind number available to applications.
    pub const APPLICATION_START: u16 = 0x8000;
}

/// The signing domain: which network, and optionally which chain, a signature is for.
///
/// ```
/// use depin_core::{Domain, KeyType, MessageKind, NetworkId, SigningKey};
/// let net = NetworkId::new("demo-net").unwrap();
/// let domain = Domain::new(net);
/// let key = SigningKey::from_secret_bytes(KeyType::P256, &[3u8; 32]).unwrap();
/// let sig = domain.sign(&key, MessageKind::ENERGY_READING, b"payload").unwrap();
/// domain.verify(&key.public_key(), MessageKind::ENERGY_READING, b"payload", &sig).unwrap();
/// // the same signature fails for another kind, network or chain
/// assert!(domain.verify(&key.public_key(), MessageKind::BANDWIDTH_TEST, b"payload", &sig).is_err());
/// assert!(domain.with_chain_id(1).verify(&key.public_key(), MessageKind::ENERGY_READING, b"payload", &sig).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Domain {
    /// The network the signature belongs to.
    pub network: NetworkId,
    /// The chain id, for messages that are bound to one chain.
    pub chain_id: Option<u64>,
}

impl Domain {
    /// A domain for a network, with no chain binding.
    pub fn new(network: NetworkId) -> Self {
        Domain {
            network,
            chain_id: None,
        }
    }

    /// The same domain bound to a chain id.
    pub fn with_chain_id(mut self, chain_id: u64) -> Self {
        self.chain_id = Some(chain_id);
        self
    }

    /// The preimage header for `kind` (everything before the payload).
    pub fn header(&self, kind: MessageKind) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let net = self.network.as_bytes();
        let mut i = 0;
        buf[..8].copy_from_slice(PROTOCOL_TAG);
        i += 8;
        buf[i] = DOMAIN_VERSION;
        buf[i + 1] = net.len() as u8;
        i += 2;
        buf[i..i + net.len()].copy_from_slice(net);
        i += net.len();
        buf[i..i + 2].copy_from_slice(&kind.0.to_be_bytes());
        i += 2;
        match self.chain_id {
            None => {
                buf[i] = 0;
                i += 1;
            }
            Some(id) => {
                buf[i] = 1;
                buf[i + 1..i + 9].copy_from_slice(&id.to_be_bytes());
                i += 9;
            }
        }
        (buf, i)
    }

    /// The signing digest of a payload given in parts (concatenated in order).
    pub fn digest_parts(&self, kind: MessageKind, parts: &[&[u8]]) -> [u8; 32] {
        let (header, len) = self.header(kind);
        let mut h = Sha256::new();
        h.update(&header[..len]);
        for part in parts {
            h.update(part);
        }
        h.finalize().into()
    }

    /// The signing digest of `payload`.
    pub fn digest(&self, kind: MessageKind, payload: &[u8]) -> [u8; 32] {
        self.digest_parts(kind, &[payload])
    }

    /// Sign `payload` as a message of `kind` in this domain.
    pub fn sign(&self, key: &SigningKey, kind: MessageKind, payload: &[u8]) -> Result<Signature> {
        key.sign_prehash(&self.digest(kind, payload))
    }

    /// Verify a signature made with [`Domain::sign`]. Failure is opaque.
    pub fn verify(
        &self,
        key: &PublicKey,
        kind: MessageKind,
        payload: &[u8],
        signature: &Signature,
    ) -> Result<()> {
        key.verify_prehash(&self.digest(kind, payload), signature)
    }
}
