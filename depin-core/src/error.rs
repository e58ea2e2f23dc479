//! The one error type of depin-core.

use crate::keys::KeyType;

/// Result alias with [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in depin-core.
///
/// Parse errors say exactly what was wrong; signature verification failures are
/// deliberately opaque ([`Error::SignatureRejected`]) so a verifier never tells an
/// attacker which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key-type tag that this version does not know.
    #[error("unknown key type tag {0}")]
    UnknownKeyType(u8),
    /// Key bytes have the wrong length for their type.
    #[error("{key_type} key must be {expected} bytes, got {actual}")]
    InvalidKeyLength {
        /// The key type being parsed.
        key_type: KeyType,
        /// Expected length in bytes.
        expected: usize,
        /// Length that was given.
        actual: usize,
    },
    /// Key bytes are the right length but are not an acceptable key.
    #[error("invalid {key_type} key: {reason}")]
    InvalidKey {
        /// The key type being parsed.
        key_type: KeyType,
        /// What was wrong (not on the curve, non-canonical, small order, ...).
        reason: &'static str,
    },
    /// A signature's encoding is malformed (wrong length, scalar out of range, high S, ...).
    #[error("malformed {key_type} signature: {reason}")]
    InvalidSignatureEncoding {
        /// The key type of the signature.
        key_type: KeyType,
        /// What was wrong.
        reason: &'static str,
    },
    /// A signature and a key of different types were combined.
    #[error("signature of type {signature} cannot be checked with a {key} key")]
    KeyTypeMismatch {
        /// The key's type.
        key: KeyType,
        /// The signature's type.
        signature: KeyType,
    },
    /// The signature does not verify. Deliberately carries no detail.
    #[error("signature rejected")]
    SignatureRejected,
    /// Signing failed (only reachable with hardware or external signers).
    #[error("signing failed")]
    SigningFailed,
    /// A `did:key` string could not be parsed.
    #[error("invalid did:key: {0}")]
    InvalidDid(&'static str),
    /// A network id is empty, too long or uses characters outside `[a-z0-9._-]`.
    #[error("invalid network id: {0}")]
    InvalidNetworkId(&'static str),
    /// An address could not be derived or parsed.
    #[error("invalid address: {0}")]
    InvalidAddress(&'static str),
    /// Input is longer than the decoder's documented limit.
    #[error("input of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// Input ended before the value was complete.
    #[error("input truncated")]
    Truncated,
    /// A complete value was decoded but bytes were left over.
    #[error("{extra} trailing bytes after the value")]
    TrailingBytes {
        /// Number of bytes left over.
        extra: usize,
    },
    /// Input bytes do not encode a value of the expected type.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// The value decodes, but its bytes are not the canonical encoding of that value.
    #[error("non-canonical encoding")]
    NonCanonical,
    /// The caller's output buffer is too small.
    #[error("output buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// A time or epoch computation left the representable range or preceded genesis.
    #[error("time error: {0}")]
    Time(&'static str),
    /// A report frame violates the frame format.
    #[error("invalid frame: {0}")]
    InvalidFrame(&'static str),
}
