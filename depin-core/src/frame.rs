//! The compact signed report frame, shared by devices (depin-device encodes it with no
//! allocation) and the network (depin-attest parses and verifies it). One definition,
//! so device and network can never disagree.
//!
//! Byte layout (all integers little-endian), see also `docs/frame-format.md`:
//!
//! ```text
//! offset  size  field
//! 0       1     version          = 0x01
//! 1       1     kind             application-defined report kind
//! 2       1     key type         0 Ed25519, 1 secp256k1, 2 P-256
//! 3       8     key hint         first 8 bytes of SHA-256(DeviceId binary form)
//! 11      4     sequence number  u32, strictly increasing per device
//! 15      8     timestamp        u64 unix milliseconds
//! 23      1     payload length   N, 0..=200
//! 24      N     payload
//! 24+N    64    signature        over Domain::digest(REPORT_FRAME, bytes[0..24+N])
//! ```
//!
//! Overhead: 24 header bytes + 64 signature bytes = **88 bytes** per frame.

use crate::did::{DeviceId, KeyHint, KEY_HINT_LEN};
use crate::domain::{Domain, MessageKind};
use crate::error::{Error, Result};
use crate::keys::{KeyType, PublicKey, Signature, SigningKey, SIGNATURE_LEN};
use crate::time::Timestamp;

/// The frame format version this crate writes and reads.
pub const FRAME_VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 24;
/// Maximum payload length.
pub const MAX_PAYLOAD_LEN: usize = 200;
/// Bytes a frame adds around its payload (header + signature).
pub const FRAME_OVERHEAD: usize = HEADER_LEN + SIGNATURE_LEN;
/// Maximum total frame length.
pub const MAX_FRAME_LEN: usize = FRAME_OVERHEAD + MAX_PAYLOAD_LEN;

/// The fixed header fields of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Application-defined report kind.
    pub kind: u8,
    /// The signing key's scheme.
    pub key_type: KeyType,
    /// Hint of the device key (see [`DeviceId::key_hint`]).
    pub key_hint: KeyHint,
    /// Monotonic sequence number.
    pub seq: u32,
    /// When the report was made.
    pub timestamp: Timestamp,
}

/// Write header and payload (the signed part) into `out`; returns its length.
pub fn encode_unsigned(header: &FrameHeader, payload: &[u8], out: &mut [u8]) -> Result<usize> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(Error::InvalidFrame("payload longer than 200 bytes"));
    }
    let len = HEADER_LEN + payload.len();
    let dst = out.get_mut(..len).ok_or(Error::BufferTooSmall {
        needed: len + SIGNATURE_LEN,
    })?;
    dst[0] = FRAME_VERSION;
    dst[1] = header.kind;
    dst[2] = header.key_type.tag();
    dst[3..11].copy_from_slice(&header.key_hint);
    dst[11..15].copy_from_slice(&header.seq.to_le_bytes());
    dst[15..23].copy_from_slice(&header.timestamp.0.to_le_bytes());
    dst[23] = payload.len() as u8;
    dst[24..].copy_from_slice(payload);
    Ok(len)
}

/// The digest a device signs for the unsigned frame bytes.
pub fn signing_digest(domain: &Domain, unsigned: &[u8]) -> [u8; 32] {
    domain.digest(MessageKind::REPORT_FRAME, unsigned)
}

/// Append the 64-byte signature after `unsigned_len` bytes; returns the frame length.
pub fn attach_signature(
    out: &mut [u8],
    unsigned_len: usize,
    signature: &[u8; SIGNATURE_LEN],
) -> Result<usize> {
    let end = unsigned_len + SIGNATURE_LEN;
    let dst = out
        .get_mut(unsigned_len..end)
        .ok_or(Error::BufferTooSmall { needed: end })?;
    dst.copy_from_slice(signature);
    Ok(end)
}

/// Encode and sign a frame with a software key (network-side tools, tests and
/// simulators; firmware uses depin-device's signer trait instead).
pub fn sign_frame(
    domain: &Domain,
    key: &SigningKey,
    kind: u8,
    seq: u32,
    timestamp: Timestamp,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    let header = FrameHeader {
        kind,
        key_type: key.key_type(),
        key_hint: DeviceId::from(&key.public_key()).key_hint(),
        seq,
        timestamp,
    };
    let n = encode_unsigned(&header, payload, out)?;
    let digest = signing_digest(
        domain,
        out.get(..n).ok_or(Error::BufferTooSmall { needed: n })?,
    );
    let sig = key.sign_prehash(&digest)?;
    attach_signature(out, n, &sig.to_bytes())
}

/// A parsed (not yet verified) frame borrowing its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Header fields.
    pub header: FrameHeader,
    /// Payload bytes.
    pub payload: &'a [u8],
    bytes: &'a [u8],
    signed: &'a [u8],
    signature: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Parse a complete frame. Checks size, version, key type and exact length; does
    /// no signature work. Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() > MAX_FRAME_LEN {
            return Err(Error::TooLarge {
                len: bytes.len(),
                limit: MAX_FRAME_LEN,
            });
        }
        if bytes.len() < FRAME_OVERHEAD {
            return Err(Error::Truncated);
        }
        let version = bytes[0];
        if version != FRAME_VERSION {
            return Err(Error::InvalidFrame("unsupported frame version"));
        }
        let key_type = KeyType::from_tag(bytes[2])?;
        let mut key_hint = [0u8; KEY_HINT_LEN];
        key_hint.copy_from_slice(&bytes[3..11]);
        let mut seq = [0u8; 4];
        seq.copy_from_slice(&bytes[11..15]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&bytes[15..23]);
        let payload_len = usize::from(bytes[23]);
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(Error::InvalidFrame("payload longer than 200 bytes"));
        }
        let expected = FRAME_OVERHEAD + payload_len;
        match bytes.len().cmp(&expected) {
            core::cmp::Ordering::Less => return Err(Error::Truncated),
            core::cmp::Ordering::Greater => {
                return Err(Error::TrailingBytes {
                    extra: bytes.len() - expected,
                })
            }
            core::cmp::Ordering::Equal => {}
        }
        let (signed, signature) = bytes.split_at(HEADER_LEN + payload_len);
        Ok(Frame {
            header: FrameHeader {
                kind: bytes[1],
                key_type,
                key_hint,
                seq: u32::from_le_bytes(seq),
                timestamp: Timestamp(u64::from_le_bytes(ts)),
            },
            payload: &signed[HEADER_LEN..],
            bytes,
            signed,
            signature,
        })
    }

    /// The whole frame as parsed (header, payload and signature): what to store or
    /// forward, e.g. once depin-device's `Reassembler` has put it back together from
    /// radio fragments and verified it.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The signed bytes (header and payload).
    pub fn signed_bytes(&self) -> &'a [u8] {
        self.signed
    }

    /// The raw signature bytes.
    pub fn signature_bytes(&self) -> &'a [u8] {
        self.signature
    }

    /// The strictly parsed signature.
    pub fn signature(&self) -> Result<Signature> {
        Signature::from_bytes(self.header.key_type, self.signature)
    }

    /// The digest the device signed, in `domain`.
    pub fn digest(&self, domain: &Domain) -> [u8; 32] {
        signing_digest(domain, self.signed)
    }

    /// Check that `key` is the key this frame names (type and hint).
    pub fn check_key(&self, key: &PublicKey) -> Result<()> {
        DeviceId::from(key).check_named(self.header.key_type, &self.header.key_hint)
    }

    /// Verify the frame's signature with `key` in `domain`.
    pub fn verify(&self, domain: &Domain, key: &PublicKey) -> Result<()> {
        self.check_key(key)?;
        let sig = self.signature()?;
        key.verify_prehash(&self.digest(domain), &sig)
    }
}
